from synthempathy.core.records import Reject
from synthempathy.quality.stats import distinct_n, funnel, histogram, nearest_neighbour_similarity, sample_by_id, word_stats


def test_word_stats_values():
    stats = word_stats(["one two", "one two three four", "a b c d e f"])
    assert stats == {"n": 3, "mean": 4.0, "std": 1.63, "p10": 2.0, "p50": 4.0, "p90": 6.0}
    assert word_stats([])["n"] == 0


def test_funnel_rebuilds_counts_from_rejects():
    rejects = [Reject(id=str(i), stage=s, reason="x") for i, s in enumerate(["brainstorm", "respond", "respond", "filter"])]
    assert funnel(5, rejects) == {"brainstorm_in": 9, "rewrite_in": 8, "respond_in": 8, "filter_in": 6, "corpus": 5}


def test_distinct_n_counts_unique_ngrams_over_the_corpus():
    texts = ["the cat sat", "The cat ran"]
    assert distinct_n(texts, 1) == round(4 / 6, 4)  # the, cat, sat, ran of 6
    assert distinct_n(texts, 2) == round(3 / 4, 4)  # "the cat" twice
    assert distinct_n([], 2) == 0.0


def test_nearest_neighbour_similarity_rises_with_near_copies():
    varied = ["I lost my job today", "The rent went up again", "My dog is sick and old"]
    copied = ["I lost my job today", "I lost my job today!", "My dog is sick and old"]
    low, high = nearest_neighbour_similarity(varied), nearest_neighbour_similarity(copied)
    assert 0.0 < low < high <= 1.0
    assert nearest_neighbour_similarity(["alone"]) == 0.0


def test_sample_by_id_is_stable_and_keeps_input_order():
    ids = [f"id{i}" for i in range(50)]
    texts = [f"text {i}" for i in range(50)]
    sample = sample_by_id(ids, texts, 10)
    assert len(sample) == 10 and sample == sample_by_id(ids, texts, 10)
    assert sample == sorted(sample, key=texts.index)
    assert sample_by_id(ids[:3], texts[:3], 10) == texts[:3]


def test_histogram_includes_empty_inner_bins():
    assert histogram([3, 7, 26, 80], 25) == {0: 2, 25: 1, 50: 0, 75: 1}
    assert histogram([], 25) == {}
