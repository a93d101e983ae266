import pytest

from synthempathy.generate import Unusable
from synthempathy.parsing import clean, parse_chain_of_empathy, parse_text


def test_chain_of_empathy_is_split_into_three_fields():
    text = " worry and shame\nCause: She believes one mistake proves she is a failure.\nResponse: That sounds so hard.  I hear you.\n"
    assert parse_chain_of_empathy(text) == {
        "emotion": "worry and shame",
        "cause": "She believes one mistake proves she is a failure.",
        "response": "That sounds so hard. I hear you.",
    }


@pytest.mark.parametrize("text", ["just a reply with no steps", " sad\nCause: x\n", " sad\nResponse: only", " \nCause: \nResponse: hi"])
def test_chain_of_empathy_without_steps_is_unusable(text):
    with pytest.raises(Unusable, match="unparseable"):
        parse_chain_of_empathy(text)


def test_parse_text_cleans_and_rejects_blank():
    assert parse_text("story")("  Two  spaces.\n\n  Next line ") == {"story": "Two spaces.\n\nNext line"}
    with pytest.raises(Unusable, match="empty"):
        parse_text("story")(" \n\t ")
    assert clean("a \t b") == "a b"
