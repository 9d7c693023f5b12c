"""Prints generated in memory for the print-analysis tests, so no binaries are committed."""

from __future__ import annotations

import io
import zipfile

from PIL import Image, ImageDraw, ImageFont
from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A3, landscape
from reportlab.pdfgen.canvas import Canvas

TITLE = "PUMP P-003 MOTOR CONTROL"
DRAWING_NUMBER = "E-1042"

# Sheet contents, one list of label lines per page. CB-12 is only on page 2 on purpose.
SCHEMATIC_PAGES: tuple[tuple[str, ...], ...] = (
    (
        "POWER DISTRIBUTION",
        "MCC-3 480V 3PH 60HZ",
        "FEEDER TO PUMP P-003",
        "XFMR-1 480V-120V 5 kVA",
    ),
    (
        "LADDER DIAGRAM - MOTOR CONTROL CIRCUIT",
        "CB-12 30A 3P MAIN BREAKER",
        "FEEDS M1 MOTOR 15 kW 480V 3PH",
        "RUNG 1: PB-01 STOP  PB-02 START  K2 COIL 24VDC",
        "RUNG 2: K2 AUX CONTACT SEAL-IN",
        "F3 2A CONTROL FUSE",
    ),
    (
        "PLC-2 INPUT WIRING",
        "TB-1 TERMINAL 4  WIRE 101 TO PLC-2 I:0/1",
        "VFD-7 SPEED REFERENCE 4-20mA",
    ),
)


def _title_block(canvas: Canvas, page_number: int, page_count: int) -> None:
    width, _height = landscape(A3)
    left = width - 330
    canvas.rect(left, 20, 310, 90)
    lines = (
        f"TITLE: {TITLE}",
        f"DWG NO: {DRAWING_NUMBER}   REV: C",
        "DATE: 2026-03-14   DRAWN BY: JMK",
        f"SHEET {page_number} OF {page_count}   SCALE: NTS",
    )
    for index, line in enumerate(lines):
        canvas.drawString(left + 8, 92 - 20 * index, line)


def schematic_pdf() -> bytes:
    """A 3-page A3 vector schematic with a text layer and a title block on every sheet."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=landscape(A3))
    canvas.setTitle("Test schematic")
    for page_number, lines in enumerate(SCHEMATIC_PAGES, start=1):
        canvas.setFont("Helvetica", 14)
        for index, line in enumerate(lines):
            y = 760 - 60 * index
            canvas.drawString(80, y, line)
            canvas.line(60, y - 12, 900, y - 12)  # a "wire" under each label
        canvas.setFont("Helvetica", 10)
        _title_block(canvas, page_number, len(SCHEMATIC_PAGES))
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def long_pdf(page_count: int) -> bytes:
    """A letter-size PDF with one labelled line per page (tag M<n>)."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer)
    for page_number in range(1, page_count + 1):
        canvas.drawString(72, 700, f"SHEET {page_number}: MOTOR M{page_number} 480V")
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def encrypted_pdf(password: str = "s3cret") -> bytes:
    """The schematic, encrypted so it can't be opened without the user password."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(schematic_pdf())))
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def label_image(
    lines: tuple[str, ...] = ("CB-12 30A", "M1 480V 3PH"), size: tuple[int, int] = (1200, 800)
) -> Image.Image:
    """White sheet with large black labels, legible to OCR."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=72)
    for index, line in enumerate(lines):
        draw.text((60, 60 + 120 * index), line, fill="black", font=font)
    return image


def encode_image(image: Image.Image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


def scanned_pdf() -> bytes:
    """A one-page PDF holding only a picture of labels: no text layer, as from a scanner."""
    buffer = io.BytesIO()
    label_image().save(buffer, format="PDF", resolution=150)
    return buffer.getvalue()


def docx_bytes() -> bytes:
    """A minimal Office Open XML package: a ZIP, as Word writes it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()
