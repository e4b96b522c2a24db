"""Test data for RAG tests: a small corpus, a file writer and a PDF maker."""

from __future__ import annotations

from pathlib import Path


def write(root: Path, name: str, text: str) -> Path:
    """Write a UTF-8 file under ``root`` (creating folders) and return its path."""
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


CORPUS = {
    "handbook/vacation.md": """# Vacation policy

## Paid leave

Every employee gets 27 days of paid vacation per calendar year. Unused days can be carried over until
the end of March of the following year.

## Requesting leave

Request vacation in the HR portal at least two weeks in advance; your manager approves it there.
""",
    "it/vpn.md": """# VPN access

## Installing the client

Install the WireGuard client from the software center, then import the profile named corp-vpn.conf
that IT sends you by e-mail.

## Troubleshooting

If the tunnel connects but nothing loads, flush the DNS cache and reconnect.
""",
    "finance/expenses.html": """<html><head><title>Expense reports</title></head><body>
<h1>Expense reports</h1>
<h2>Deadlines</h2><p>Submit expense reports within 30 days of the purchase, with the receipts attached.</p>
<h2>Meals</h2><p>Team dinners are reimbursed up to 45 euros per person.</p>
</body></html>""",
    "office/wifi.txt": """The guest wifi network is called Visitors-5G and its password changes every Monday.

Employees use the network Staff-Secure with their own login.
""",
}


def make_pdf(path: Path, lines: list[str], password: str | None = None) -> Path:
    """Write a one-page PDF showing ``lines`` (Helvetica); encrypted with pypdf when ``password`` is set."""
    from pypdf import PdfReader, PdfWriter

    body = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(
        "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '" for line in lines
    ) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(body)} >>\nstream\n{body}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for number, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{obj}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{off:010d} 00000 n \n" for off in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out)
    if password:
        writer = PdfWriter(clone_from=PdfReader(path))
        writer.encrypt(password, algorithm="AES-128")
        with path.open("wb") as handle:
            writer.write(handle)
    return path
