"""The token path on real biomedical text in a public corpus's published format: the title and the
start of the first sentence (cut after "pathway") of the NCBI disease corpus's first abstract
(Dogan et al. 2014, J Biomed Inform 47; public domain), transcribed by hand with their disease
mentions as the BIO token/tag TSV of BioBERT's preprocessed NER data (token, tab, tag; a blank
line between sentences), read, detected and cut into word pieces by the packaged MiniLM
tokenizer. No corpus is downloaded: the check is of the format and of real clinical words."""
import pytest

from streams import detect_task_type, load_token_source
from streams.tagging import entity_spans, tag_names
from streams.tokenization import IGNORED, tokenize_tagged

NCBI = [
    ("Identification of APC2 , a homologue of the adenomatous polyposis coli tumour suppressor .",
     "O O O O O O O O B-Disease I-Disease I-Disease I-Disease O O"),
    ("The adenomatous polyposis coli ( APC ) tumour - suppressor protein controls the Wnt signalling pathway .",
     "O B-Disease I-Disease I-Disease I-Disease I-Disease I-Disease I-Disease O O O O O O O O O"),
]


@pytest.fixture
def ncbi_tsv(tmp_path):
    path = tmp_path / "train.tsv"
    lines = []
    for words, tags in NCBI:
        lines += [f"{w}\t{t}" for w, t in zip(words.split(), tags.split())] + [""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def minilm_tokenizer():
    from transformers import AutoTokenizer

    from continual.model import default_model_path

    return AutoTokenizer.from_pretrained(default_model_path())


def test_the_published_tsv_is_read_as_token_data(ncbi_tsv):
    assert detect_task_type(str(ncbi_tsv)) == "token"
    table = load_token_source(str(ncbi_tsv))
    assert table.class_names == ["Disease"]
    assert [len(w) for w in table.words] == [len(s.split()) for s, _ in NCBI]
    spans = [entity_spans(tags) for tags in table.tags]
    assert spans == [[(0, 8, 12)], [(0, 1, 8)]]  # "adenomatous polyposis coli tumour", "... ( APC ) tumour"


def test_word_pieces_keep_every_word_and_entity(ncbi_tsv, minilm_tokenizer):
    table = load_token_source(str(ncbi_tsv))
    windows = tokenize_tagged(table.words, table.tags, minilm_tokenizer, max_length=128, stride=32)
    assert windows.source == [0, 1] and windows.cut_entities == 0
    names = tag_names(table.class_names)
    for w, (words, tags) in enumerate(zip(table.words, table.tags)):
        scored = [t for t in windows.labels[w] if t != IGNORED]
        assert scored == list(tags)  # one scored position per word, in order, its own tag
        # words such as "APC2" and "adenomatous" split into several pieces; only the first is scored
        assert len(windows.input_ids[w]) > len(words) + 2
        assert [names[t] for t in scored][:2] in (["O", "O"], ["O", "B-Disease"])


def test_a_short_window_cuts_between_entities_only(ncbi_tsv, minilm_tokenizer):
    table = load_token_source(str(ncbi_tsv))
    windows = tokenize_tagged(table.words, table.tags, minilm_tokenizer, max_length=16, stride=4)
    assert windows.cut_entities == 0
    for sentence, tags in enumerate(table.tags):
        owned = []
        for w in (w for w, s in enumerate(windows.source) if s == sentence):
            owned += [t for t, o in zip(windows.labels[w], windows.owned[w]) if o and t != IGNORED]
        assert owned == list(tags)  # each word owned by exactly one window, in order
