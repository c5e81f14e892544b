"""A small, valid PDF of an invoice summary, padded to a requested size.

The document has one page showing the invoice number, customer, period and total, a
correct cross-reference table and trailer. Padding is an unreferenced stream object, so
any size from about 1 KB to many megabytes stays a valid PDF.
"""

from __future__ import annotations

__all__ = ["render_summary_pdf"]

_FILLER = b"% myreports-async fake summary padding\n"


def _pdf_text(text: str) -> bytes:
    """A PDF literal string: ASCII only, with the three special characters escaped."""
    ascii_text = text.encode("ascii", "replace").decode("ascii")
    escaped = ascii_text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return f"({escaped})".encode("ascii")


def _render(lines: list[str], padding: int) -> bytes:
    content = b"BT /F1 14 Tf 72 770 Td 18 TL\n"
    for line in lines:
        content += _pdf_text(line) + b" Tj T*\n"
    content += b"ET\n"
    filler = (_FILLER * (padding // len(_FILLER) + 1))[:padding]
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(filler) + filler + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref_at,
    )
    return bytes(out)


def render_summary_pdf(
    *, invoice_number: str, customer_name: str, period: str, value: str, size: int
) -> bytes:
    """A one-page PDF summary of an invoice, within a few bytes of ``size`` if it is reachable.

    Example::

        pdf = render_summary_pdf(invoice_number="9000004", customer_name="Acme Ltd",
                                 period="2020-04-01 to 2020-04-30", value="17.50", size=4096)
        assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    """
    lines = [
        f"Invoice {invoice_number}",
        f"Customer: {customer_name}",
        f"Billing period: {period}",
        f"Total: {value}",
    ]
    bare = _render(lines, 0)
    padding = max(0, size - len(bare))
    pdf = _render(lines, padding)
    # The padding shifts the startxref number, which may gain a digit or two.
    if padding and len(pdf) > size:
        pdf = _render(lines, max(0, padding - (len(pdf) - size)))
    return pdf
