"""Ranking candidates the way a reader expects: pure functions, no database."""

from __future__ import annotations

from webapp.ranking import Candidate, mark_matches, matches_all, scored, with_shelf, words


def rerank(candidates: list[Candidate], query_terms: tuple[str, ...]) -> list[Candidate]:
    return [candidate for _, candidate in scored(candidates, query_terms)]


def titles(ranked: list[Candidate]) -> list[str]:
    return [candidate.title for candidate in ranked]


def book(book_id: int, title: str, author: str = "Ann Author", **extra) -> Candidate:
    return Candidate(book_id=book_id, title=title, author=author, **extra)


def test_a_whole_title_word_ranks_above_a_word_only_begun():
    ranked = rerank([book(1, "Catalogue of Ships"), book(2, "The Cat")], ("cat",))
    assert titles(ranked) == ["The Cat", "Catalogue of Ships"]


def test_title_ranks_above_author_above_series_and_subjects():
    # Every candidate matched the query somewhere; the third only through its
    # series or subjects, which ranking sees as neither title nor author.
    in_subjects = book(1, "Romantic Poets", author="Ann Author")
    in_author = book(2, "A Life in Letters", author="Mary Shelley")
    in_title = book(3, "Shelley: A Biography", author="Ann Author")
    ranked = rerank([in_subjects, in_author, in_title], ("shelley",))
    assert titles(ranked) == ["Shelley: A Biography", "A Life in Letters", "Romantic Poets"]


def test_typing_the_start_of_a_title_beats_the_same_words_scattered():
    ranked = rerank(
        [book(1, "Rings of the Lord Protector"), book(2, "The Lord of the Rings")],
        ("lord", "of", "the", "r"),
    )
    assert ranked[0].title == "The Lord of the Rings"


def test_typing_a_title_from_its_leading_article_counts_as_its_start():
    ranked = rerank(
        [
            book(1, "Beyond the Lost Journey"),
            book(2, "Under the Lost Sky"),
            book(3, "The Lost Ocean"),
        ],
        ("the", "lo"),
    )
    assert ranked[0].title == "The Lost Ocean"


def test_when_relevance_ties_the_often_borrowed_book_on_the_shelf_comes_first():
    obscure = book(1, "Winter Garden")
    popular = book(2, "Winter Garden", times_borrowed=40)
    on_shelf = book(3, "Winter Garden")
    assert rerank([obscure, popular], ("winter",))[0].book_id == 2
    tied = [
        (value, candidate.book_id) for value, candidate in scored([obscure, on_shelf], ("winter",))
    ]
    assert with_shelf(tied, on_shelf={3})[0][1] == 3


def test_ties_keep_the_order_the_candidates_came_in():
    ranked = rerank([book(7, "Same Title"), book(3, "Same Title")], ("same",))
    assert [candidate.book_id for candidate in ranked] == [7, 3]


def test_words_fold_case_and_diacritics_like_the_index():
    assert words("GrandPré's Café") == ["grandpre", "s", "cafe"]
    assert words("The HOBBIT") == ["the", "hobbit"]


def test_matches_all_wants_every_term_to_begin_some_word():
    assert matches_all(["harr", "pot"], "Harry Potter and the Goblet of Fire", "J.K. Rowling")
    assert matches_all(["rowl"], "Harry Potter", "J.K. Rowling")
    assert not matches_all(["arry"], "Harry Potter", "J.K. Rowling")


def test_matched_words_are_marked_and_the_text_is_kept_exactly():
    parts = mark_matches("Mary GrandPré, illustrator", ["grandp", "ill"])
    assert "".join(text for text, _ in parts) == "Mary GrandPré, illustrator"
    assert [text for text, hit in parts if hit] == ["GrandPré", "illustrator"]
    assert mark_matches("The Hobbit", ["zzz"]) == (("The Hobbit", False),)


def test_a_copy_on_the_shelf_breaks_a_near_tie_but_never_lifts_a_worse_match():
    ranked = [(5.0, 1, "Winter Garden"), (4.9, 2, "Winter Gardens"), (3.0, 3, "Garden in Winter")]
    assert [book_id for _, book_id, _ in with_shelf(ranked, on_shelf={2})] == [2, 1, 3]
    assert [book_id for _, book_id, _ in with_shelf(ranked, on_shelf={3})] == [1, 2, 3]
