# The two commands a newcomer needs (both idempotent; a second run reuses what is there):
#   make run   — install everything, start the local services, ingest the sample docs, open `ratchet chat`
#                (or connect to Slack when SLACK_BOT_TOKEN and SLACK_APP_TOKEN are set)
#   make test  — install everything (incl. test tools) and run the whole test suite
.PHONY: run test setup down
run:
	bash deploy/local/run.sh
test:
	bash deploy/local/test.sh
setup:
	bash deploy/local/install.sh
down:
	bash deploy/local/venv_exec.sh ratchet down
