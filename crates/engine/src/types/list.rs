//! The list type (being written).

/// A list value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct List {}

impl List {
    /// Number of elements.
    pub fn len(&self) -> usize {
        0
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes owned, for MEMORY USAGE.
    pub fn mem_usage(&self) -> usize {
        0
    }

    /// OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        "list"
    }
}
