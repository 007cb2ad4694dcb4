//! The few places where Postgres and SQLite SQL differ, and a small builder that numbers
//! placeholders so both backends share every query.
//!
//! Queries go through `sqlx::Any`, which binds text and integers only: ids are bound as
//! text and cast to `uuid` on Postgres, entities as text and cast to `jsonb`.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AssertSqlSafe};
use uuid::Uuid;

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// The statement that opens a write transaction. SQLite takes the write lock up front,
    /// so two writers never deadlock upgrading a read lock (they wait on `busy_timeout`).
    pub(crate) fn begin_write(self) -> &'static str {
        match self {
            Backend::Postgres => "BEGIN",
            Backend::Sqlite => "BEGIN IMMEDIATE",
        }
    }

    /// The statement that opens a consistent read-only transaction: every statement in it
    /// sees the same committed state (SQLite in WAL mode pins a snapshot on the first read).
    pub(crate) fn begin_snapshot(self) -> &'static str {
        match self {
            Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            Backend::Sqlite => "BEGIN",
        }
    }

    /// A column expression (`id`, `c.entity`) read back as text: `uuid` and `jsonb`
    /// columns on Postgres are cast; SQLite stores them as text already.
    pub(crate) fn as_text(self, column: &str) -> String {
        match self {
            Backend::Postgres => format!("{column}::text"),
            Backend::Sqlite => column.to_owned(),
        }
    }

    /// Row lock for the rows a delete starts from (Postgres); SQLite writers are serialised.
    pub(crate) fn for_update(self) -> &'static str {
        match self {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        }
    }
}

/// A quoted identifier. Names come from `EntityKind` metadata, never from input.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{name}\"")
}

enum Param {
    Text(Option<String>),
    Int(i64),
}

/// SQL text plus its parameters, numbered `$1, $2, ...` (SQLite accepts `$N` too).
pub(crate) struct Sql {
    backend: Backend,
    text: String,
    params: Vec<Param>,
}

impl Sql {
    pub fn new(backend: Backend) -> Self {
        Sql {
            backend,
            text: String::with_capacity(128),
            params: Vec::new(),
        }
    }

    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.text.push_str(sql);
        self
    }

    fn placeholder(&mut self, param: Param, pg_cast: &str) -> &mut Self {
        self.params.push(param);
        self.text.push('$');
        self.text.push_str(&self.params.len().to_string());
        if self.backend == Backend::Postgres {
            self.text.push_str(pg_cast);
        }
        self
    }

    pub fn text(&mut self, value: Option<String>) -> &mut Self {
        self.placeholder(Param::Text(value), "")
    }

    pub fn str(&mut self, value: &str) -> &mut Self {
        self.text(Some(value.to_owned()))
    }

    pub fn uuid(&mut self, value: Option<Uuid>) -> &mut Self {
        self.placeholder(Param::Text(value.map(|id| id.to_string())), "::uuid")
    }

    pub fn id(&mut self, value: Uuid) -> &mut Self {
        self.uuid(Some(value))
    }

    pub fn json(&mut self, value: String) -> &mut Self {
        self.placeholder(Param::Text(Some(value)), "::jsonb")
    }

    pub fn int(&mut self, value: i64) -> &mut Self {
        self.placeholder(Param::Int(value), "")
    }

    /// A comma-separated list of text placeholders (for `IN (...)`).
    pub fn text_list(&mut self, values: &[String]) -> &mut Self {
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.str(value);
        }
        self
    }

    pub fn query(self) -> Query<'static, Any, AnyArguments> {
        let mut query = sqlx::query(AssertSqlSafe(self.text));
        for param in self.params {
            query = match param {
                Param::Text(v) => query.bind(v),
                Param::Int(v) => query.bind(v),
            };
        }
        query
    }
}
