"""The local Weaviate server (built from its Go module by deploy/local/weaviate_build.sh)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from engine.process import ManagedProcess, ServiceStartError
from engine.settings import Settings


def weaviate_binary(settings: Settings) -> Path:
    """Where deploy/local/weaviate_build.sh puts the server binary."""
    cache = Path(os.environ.get("RATCHET_CACHE", Path.home() / ".cache" / "ratchet"))
    return cache / "weaviate" / settings.rag.weaviate_version / "weaviate-server"


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def weaviate_process(settings: Settings) -> ManagedProcess:
    """The managed local Weaviate service for these settings."""
    rag = settings.rag
    binary = weaviate_binary(settings)
    data = settings.data_dir / "weaviate"

    def preflight() -> None:
        if not binary.is_file():
            raise ServiceStartError(
                f"Weaviate binary missing at {binary}; run deploy/local/weaviate_build.sh (make setup)"
            )
        try:
            data.mkdir(parents=True, exist_ok=True)
            probe = data / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise ServiceStartError(f"Weaviate data dir {data} is not writable: {exc}") from exc
        for port in (rag.weaviate_http_port, rag.weaviate_grpc_port, rag.weaviate_http_port + 1):
            if not _port_free(rag.weaviate_host, port):
                raise ServiceStartError(
                    f"Weaviate cannot start: port {port} on {rag.weaviate_host} is taken; "
                    "set RATCHET_RAG__WEAVIATE_HTTP_PORT / RATCHET_RAG__WEAVIATE_GRPC_PORT"
                )

    gossip = rag.weaviate_http_port + 1
    return ManagedProcess(
        name="weaviate",
        argv=[str(binary), "--host", rag.weaviate_host, "--port", str(rag.weaviate_http_port),
              "--scheme", "http"],
        run_dir=settings.run_dir,
        health_url=f"http://{rag.weaviate_host}:{rag.weaviate_http_port}/v1/.well-known/ready",
        env={
            "PERSISTENCE_DATA_PATH": str(data),
            "DEFAULT_VECTORIZER_MODULE": "none",
            "ENABLE_MODULES": "",
            "CLUSTER_HOSTNAME": "ratchet-node1",
            "CLUSTER_ADVERTISE_ADDR": rag.weaviate_host,
            "RAFT_JOIN": "ratchet-node1",
            "CLUSTER_GOSSIP_BIND_PORT": str(gossip),
            "CLUSTER_DATA_BIND_PORT": str(gossip + 1),
            "RAFT_PORT": str(gossip + 2),
            "RAFT_INTERNAL_RPC_PORT": str(gossip + 3),
            "RAFT_BOOTSTRAP_EXPECT": "1",
            "GRPC_PORT": str(rag.weaviate_grpc_port),
            "DISABLE_TELEMETRY": "true",
            "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED": "true",
            "QUERY_DEFAULTS_LIMIT": "25",
            "LIMIT_RESOURCES": "true",
            "GOMAXPROCS": "2",
        },
        startup_timeout_s=rag.weaviate_startup_timeout_s,
        preflight=preflight,
    )
