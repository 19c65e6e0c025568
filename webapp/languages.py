"""Language names for the codes books carry (Books.Language): ISO 639-1 ("fr") from CSV
imports and the book form, ISO 639-2 ("fre" or "fra") from MARC records.

A table of the languages a school or small public library is likely to hold, rather
than a locale library: the pages only need an English name, and an unknown code is
shown as it is, so nothing is lost.
"""

from __future__ import annotations

# English name: its ISO 639-1 code, then its ISO 639-2 codes (bibliographic and terminology).
_LANGUAGES = {
    "Arabic": ("ar", "ara"),
    "Bengali": ("bn", "ben"),
    "Bulgarian": ("bg", "bul"),
    "Catalan": ("ca", "cat"),
    "Chinese": ("zh", "chi", "zho"),
    "Croatian": ("hr", "hrv"),
    "Czech": ("cs", "cze", "ces"),
    "Danish": ("da", "dan"),
    "Dutch": ("nl", "dut", "nld"),
    "English": ("en", "eng"),
    "Estonian": ("et", "est"),
    "Finnish": ("fi", "fin"),
    "French": ("fr", "fre", "fra"),
    "German": ("de", "ger", "deu"),
    "Greek": ("el", "gre", "ell"),
    "Gujarati": ("gu", "guj"),
    "Hebrew": ("he", "heb"),
    "Hindi": ("hi", "hin"),
    "Hungarian": ("hu", "hun"),
    "Icelandic": ("is", "ice", "isl"),
    "Indonesian": ("id", "ind"),
    "Irish": ("ga", "gle"),
    "Italian": ("it", "ita"),
    "Japanese": ("ja", "jpn"),
    "Korean": ("ko", "kor"),
    "Latin": ("la", "lat"),
    "Latvian": ("lv", "lav"),
    "Lithuanian": ("lt", "lit"),
    "Norwegian": ("no", "nor"),
    "Persian": ("fa", "per", "fas"),
    "Polish": ("pl", "pol"),
    "Portuguese": ("pt", "por"),
    "Punjabi": ("pa", "pan"),
    "Romanian": ("ro", "rum", "ron"),
    "Russian": ("ru", "rus"),
    "Scottish Gaelic": ("gd", "gla"),
    "Serbian": ("sr", "srp"),
    "Slovak": ("sk", "slo", "slk"),
    "Slovenian": ("sl", "slv"),
    "Somali": ("so", "som"),
    "Spanish": ("es", "spa"),
    "Swahili": ("sw", "swa"),
    "Swedish": ("sv", "swe"),
    "Tamil": ("ta", "tam"),
    "Thai": ("th", "tha"),
    "Turkish": ("tr", "tur"),
    "Ukrainian": ("uk", "ukr"),
    "Urdu": ("ur", "urd"),
    "Vietnamese": ("vi", "vie"),
    "Welsh": ("cy", "wel", "cym"),
}
_BY_CODE = {code: name for name, codes in _LANGUAGES.items() for code in codes}


def language_name(code: str | None) -> str:
    """'French' for 'fr', 'fre' or 'FRA'; a code not in the table comes back as it is."""
    if not code:
        return ""
    return _BY_CODE.get(code.strip().lower(), code)
