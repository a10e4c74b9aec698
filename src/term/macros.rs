//! Term-building macros, exported at the crate root.

/// A tuple term: `tuple![Term::atom("ok"), 42]`. Each element is `Into<Term>`.
#[macro_export]
macro_rules! tuple {
    ($($e:expr),* $(,)?) => {
        $crate::term::Term::Tuple(::std::vec![$($crate::term::Term::from($e)),*])
    };
}

/// A proper list term: `list![1, 2, 3]`. Each element is `Into<Term>`.
#[macro_export]
macro_rules! list {
    ($($e:expr),* $(,)?) => {
        $crate::term::Term::List(::std::vec![$($crate::term::Term::from($e)),*])
    };
}

/// A map term: `map!{atom!("a") => 1, atom!("b") => 2}`. Keys and values are `Into<Term>`.
#[macro_export]
macro_rules! map {
    ($($k:expr => $v:expr),* $(,)?) => {
        $crate::term::Term::map(::std::vec![$(($crate::term::Term::from($k), $crate::term::Term::from($v))),*])
    };
}

/// An atom term: `atom!("ok")`.
#[macro_export]
macro_rules! atom {
    ($name:expr) => {
        $crate::term::Term::atom($name)
    };
}
