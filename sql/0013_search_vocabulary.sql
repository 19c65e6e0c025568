-- Search forgives spelling (webapp/spelling.py): each server process keeps the
-- catalogue's words in memory and looks for those near a misspelt word. It
-- reads them whole, once, from FTS5's own vocabulary of the search index:
CREATE VIRTUAL TABLE BooksSearchVocabulary USING fts5vocab ('BooksSearch', 'row');

-- ... and then only the words of books added or changed since: each such book
-- is logged here, and a process adds the words of the books logged after the
-- last change it read. Only the last 10,000 changes are kept (each insert
-- drops the one 10,000 before it); a process that fell further behind, after a
-- large import, reads the vocabulary whole again.
CREATE TABLE SearchVocabularyChanges (
    ChangeID INTEGER PRIMARY KEY,
    BookID   INTEGER NOT NULL
);

CREATE TRIGGER Books_VocabularyChangedByInsert AFTER INSERT ON Books
BEGIN
    INSERT INTO SearchVocabularyChanges (BookID) VALUES (NEW.BookID);
    DELETE FROM SearchVocabularyChanges WHERE ChangeID = last_insert_rowid() - 10000;
END;

CREATE TRIGGER Books_VocabularyChangedByUpdate
AFTER UPDATE OF Title, Author, Series, Subjects ON Books
BEGIN
    INSERT INTO SearchVocabularyChanges (BookID) VALUES (NEW.BookID);
    DELETE FROM SearchVocabularyChanges WHERE ChangeID = last_insert_rowid() - 10000;
END;

-- Search narrows by language (the filter's choices are read by skipping from
-- one language to the next through this index) and a series page lists its
-- books ("Harry Potter, #1", "Harry Potter, #2", ...) by a range on this one.
CREATE INDEX Books_ByLanguage ON Books (Language);
CREATE INDEX Books_BySeries ON Books (Series);
