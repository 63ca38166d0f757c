"""The committed dictionary tables are what tools/gen_fix44.py makes from the
QuickFIX FIX44.xml of the test extras, and they agree with the codec."""
import subprocess
import sys
from pathlib import Path

from fastcore import codec

ROOT = Path(__file__).resolve().parent.parent
XML = Path(sys.prefix) / "share" / "quickfix" / "FIX44.xml"


def test_generated_tables_are_up_to_date(tmp_path):
    assert XML.exists(), f"{XML}: quickfix-ssl (a test extra) ships it"
    subprocess.run([sys.executable, str(ROOT / "tools" / "gen_fix44.py"), "--xml", str(XML),
                    "--out-dir", str(tmp_path)], check=True, capture_output=True, timeout=120)
    for name in ("_fix44.h", "dictionary.py"):
        assert (tmp_path / name).read_text() == \
            (ROOT / "src" / "fastcore" / "codec" / name).read_text(), f"{name} is stale"


def test_fastcore_fields_are_in_the_dictionary():
    for tag, name in [(1031, "CustOrderHandlingInst"), (1032, "OrderHandlingInstSource"),
                      (18218, "TTCustomerName"), (18219, "SecondaryAccount")]:
        assert codec.TAG_NAMES[tag] == name and codec.TAGS[name] == tag
    assert codec.MESSAGES["D"] == "NewOrderSingle"
    assert codec.ENUMS[54]["1"] == "BUY"
