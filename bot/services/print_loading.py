"""Turn an uploaded print (PDF or photo) into page images and text, or refuse with a clear reason.

Every failure raises PrintRejected before anything is returned, so callers never see a
half-loaded document. Loading is CPU-bound: call load_print_async from the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import io
import logging
import shutil
import threading
from dataclasses import dataclass
from pathlib import PurePath
from typing import Literal

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_raw
from PIL import Image, ImageChops, ImageOps, UnidentifiedImageError

from bot.services.print_labels import extract_labels

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 20 * 1024 * 1024  # Telegram Bot API download cap
DEFAULT_MAX_PAGES = 20
# Vision models fit images into a 2048 px box ("high" detail); sending more only costs bandwidth.
MAX_IMAGE_SIDE_PX = 2048
# Render no finer than this: 200 dpi keeps 10-pt labels legible on letter-size sheets.
MAX_RENDER_DPI = 200
MIN_IMAGE_SHORT_SIDE_PX = 300
# OCR on a huge phone photo takes seconds per megapixel without reading better.
MAX_OCR_SIDE_PX = 3000
OCR_TIMEOUT_SECONDS = 20
# Sparse-text mode: schematic labels are scattered, not laid out as paragraphs.
_OCR_CONFIG = "--psm 11"

_IMAGE_FORMATS = {"PNG", "JPEG", "WEBP"}
_PDF_EXTENSIONS = {".pdf"}
_IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp"}
_SEND_AS_HINT = "Send the print as a PDF or a photo (PNG, JPEG or WebP)."

# PDFium keeps global state and is not thread-safe; loads from worker threads take turns.
_PDFIUM_LOCK = threading.Lock()


class PrintRejected(Exception):
    """The upload cannot be read; message is a short sentence to show the user as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class PrintPage:
    number: int  # 1-based
    text: str  # text layer, or OCR output when text_from_ocr
    image_png: bytes  # fits MAX_IMAGE_SIDE_PX, ready for a vision model
    text_from_ocr: bool = False


@dataclass(frozen=True, slots=True)
class PrintDocument:
    pages: list[PrintPage]
    kind: Literal["pdf", "image"]
    labels: dict[str, list[int]]  # label -> 1-based pages, in order of first appearance
    total_pages: int  # pages in the file; more than len(pages) when truncated to max_pages
    notes: tuple[str, ...] = ()  # user-facing caveats: truncation, OCR unavailable, ...

    @property
    def truncated(self) -> bool:
        return self.total_pages > len(self.pages)


@functools.cache
def ocr_available() -> bool:
    """True when pytesseract is installed and the tesseract binary is on PATH."""
    return (
        importlib.util.find_spec("pytesseract") is not None
        and shutil.which("tesseract") is not None
    )


def _ocr_text(image: Image.Image) -> str | None:
    """Text read by Tesseract, or None when OCR is unavailable or fails."""
    if not ocr_available():
        return None
    import pytesseract  # optional dependency, checked by ocr_available()

    ocr_image = image.convert("L")
    ocr_image.thumbnail((MAX_OCR_SIDE_PX, MAX_OCR_SIDE_PX), Image.Resampling.LANCZOS)
    try:
        text: str = pytesseract.image_to_string(
            ocr_image, config=_OCR_CONFIG, timeout=OCR_TIMEOUT_SECONDS
        )
    except (pytesseract.TesseractError, RuntimeError, OSError):
        # RuntimeError is pytesseract's timeout; a broken OCR must not sink the upload.
        logger.warning("Tesseract OCR failed", exc_info=True)
        return None
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip())


def _is_grayscale(image: Image.Image) -> bool:
    red, green, blue = image.split()
    return (
        ImageChops.difference(red, green).getbbox() is None
        and ImageChops.difference(green, blue).getbbox() is None
    )


def _fit_png(image: Image.Image) -> bytes:
    fitted = image
    scale = MAX_IMAGE_SIDE_PX / max(image.size)
    if scale < 1:
        size = (round(image.width * scale), round(image.height * scale))
        fitted = image.resize(size, Image.Resampling.LANCZOS)
    if _is_grayscale(fitted):
        # Most prints are black on white: a one-channel PNG is about half the size and
        # encodes several times faster, with no loss.
        fitted = fitted.convert("L")
    buffer = io.BytesIO()
    # Line art compresses better as PNG than JPEG (ai-stack.md §4).
    fitted.save(buffer, format="PNG")
    return buffer.getvalue()


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB"


def _extension(file_name: str | None) -> str:
    return PurePath(file_name).suffix.lower() if file_name else ""


def _sniff(data: bytes) -> Literal["pdf", "image", "zip", "unknown"]:
    # Some generators put junk before the header; PDF readers accept it within the first 1 KB.
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if data.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")) or (
        data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    ):
        return "image"
    if data.startswith(b"PK\x03\x04"):
        return "zip"
    return "unknown"


def _unsupported(file_name: str | None, sniffed: str) -> PrintRejected:
    extension = _extension(file_name)
    if extension:
        return PrintRejected(f"I can't read {extension} files. {_SEND_AS_HINT}")
    if sniffed == "zip":
        return PrintRejected(
            f"That looks like a ZIP or Office file, which I can't read. {_SEND_AS_HINT}"
        )
    return PrintRejected(f"I can't read that kind of file. {_SEND_AS_HINT}")


def _finish(
    pages: list[PrintPage], kind: Literal["pdf", "image"], total_pages: int, notes: list[str]
) -> PrintDocument:
    labels = extract_labels([page.text for page in pages])
    return PrintDocument(
        pages=pages, kind=kind, labels=labels, total_pages=total_pages, notes=tuple(notes)
    )


def _text_or_ocr(text: str, image: Image.Image, notes: list[str], where: str) -> tuple[str, bool]:
    """Keep real text; otherwise try OCR and record in notes why text may be missing."""
    if text.strip():
        return text, False
    ocr_text = _ocr_text(image)
    if ocr_text is None:
        reason = "OCR isn't available here" if not ocr_available() else "OCR failed"
        note = f"I couldn't read the text {where} ({reason})."
        if note not in notes:
            notes.append(note)
        return "", False
    return ocr_text, True


def _open_pdf(data: bytes) -> pdfium.PdfDocument:
    try:
        with _PDFIUM_LOCK:
            return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as error:
        if error.err_code in (pdfium_raw.FPDF_ERR_PASSWORD, pdfium_raw.FPDF_ERR_SECURITY):
            raise PrintRejected(
                "That PDF is password-protected. Save or print it without the password "
                "and send it again."
            ) from error
        raise PrintRejected(
            "That PDF looks damaged — I couldn't open it. Try exporting it again."
        ) from error


def _render_page(pdf: pdfium.PdfDocument, index: int) -> tuple[str, Image.Image]:
    """Text layer and a render of one page; the caller holds _PDFIUM_LOCK."""
    page = pdf[index]
    try:
        width_pt, height_pt = page.get_size()
        scale = min(MAX_RENDER_DPI / 72, MAX_IMAGE_SIDE_PX / max(width_pt, height_pt, 1.0))
        image = page.render(scale=scale).to_pil().convert("RGB")
        textpage = page.get_textpage()
        try:
            text = textpage.get_text_range()
        finally:
            textpage.close()
    finally:
        page.close()
    return text.replace("\r\n", "\n").replace("\r", "\n"), image


def _load_pdf(data: bytes, max_pages: int) -> PrintDocument:
    pdf = _open_pdf(data)
    try:
        with _PDFIUM_LOCK:
            total_pages = len(pdf)
        if total_pages == 0:
            raise PrintRejected("That PDF has no pages.")
        notes: list[str] = []
        if total_pages > max_pages:
            notes.append(
                f"The PDF has {total_pages} pages; I read only the first {max_pages}. "
                "Send the other sheets as a separate PDF."
            )
        pages: list[PrintPage] = []
        for index in range(min(total_pages, max_pages)):
            # One page at a time: memory stays bounded, and OCR and PNG encoding run outside
            # the lock so concurrent uploads interleave.
            try:
                with _PDFIUM_LOCK:
                    text, image = _render_page(pdf, index)
            except pdfium.PdfiumError as error:
                raise PrintRejected(
                    "That PDF looks damaged — some pages wouldn't render. Try exporting it again."
                ) from error
            page_text, from_ocr = _text_or_ocr(text, image, notes, "on some pages")
            pages.append(PrintPage(index + 1, page_text, _fit_png(image), from_ocr))
    finally:
        with _PDFIUM_LOCK:
            pdf.close()
    return _finish(pages, "pdf", total_pages, notes)


def _load_image(data: bytes) -> PrintDocument:
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.format not in _IMAGE_FORMATS:
                raise PrintRejected(f"I can't read {opened.format} images. {_SEND_AS_HINT}")
            opened.load()
            # Phone photos are often stored sideways with an EXIF rotation flag.
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except Image.DecompressionBombError as error:
        raise PrintRejected(
            "That image is too large in pixels for me to open. Send a smaller photo or the PDF."
        ) from error
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise PrintRejected(
            "That image looks damaged — I couldn't open it. Try sending it again."
        ) from error
    width, height = image.size
    if min(width, height) < MIN_IMAGE_SHORT_SIDE_PX:
        raise PrintRejected(
            f"That image is too small to read ({width}×{height} px). Send the print as a "
            f"document or a photo at least {MIN_IMAGE_SHORT_SIDE_PX} px on the short side."
        )
    notes: list[str] = []
    text, from_ocr = _text_or_ocr("", image, notes, "on this image")
    page = PrintPage(number=1, text=text, image_png=_fit_png(image), text_from_ocr=from_ocr)
    return _finish([page], "image", 1, notes)


def load_print(
    data: bytes,
    *,
    file_name: str | None,
    mime_type: str | None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> PrintDocument:
    """Read a PDF or an image print; raises PrintRejected with a user-facing sentence.

    The content is sniffed from the bytes; file_name and mime_type only shape the error
    message. A PDF longer than max_pages is not rejected: its first max_pages pages are loaded
    and PrintDocument.notes says so, because the first sheets are usually the ones asked about.
    """
    if len(data) > max_bytes:
        raise PrintRejected(
            f"That file is over {_megabytes(max_bytes)} — Telegram won't let me download it. "
            "Send a smaller PDF or a photo of the sheet you need."
        )
    if not data:
        raise PrintRejected(f"That file is empty. {_SEND_AS_HINT}")
    sniffed = _sniff(data)
    if sniffed == "pdf":
        return _load_pdf(data, max_pages)
    if sniffed == "image":
        return _load_image(data)
    declared_pdf = _extension(file_name) in _PDF_EXTENSIONS or mime_type == "application/pdf"
    if declared_pdf:
        raise PrintRejected("That PDF looks damaged — I couldn't open it. Try exporting it again.")
    declared_image = _extension(file_name) in _IMAGE_EXTENSIONS or (
        mime_type is not None and mime_type.startswith("image/")
    )
    if declared_image:
        # Pillow may still read it (e.g. formats we sniff poorly); it rejects what it can't.
        return _load_image(data)
    raise _unsupported(file_name, sniffed)


async def load_print_async(
    data: bytes,
    *,
    file_name: str | None,
    mime_type: str | None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> PrintDocument:
    """load_print in a worker thread so rendering and OCR don't block the event loop."""
    return await asyncio.to_thread(
        load_print,
        data,
        file_name=file_name,
        mime_type=mime_type,
        max_bytes=max_bytes,
        max_pages=max_pages,
    )
