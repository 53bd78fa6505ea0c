//! Values that live in their own heap allocation, referenced from an [`Entry`](crate::entry::Entry).
//!
//! Small strings and integers are stored inside the entry itself; everything that grows in
//! place or has internal structure lives here. The collection types join this enum as they are
//! implemented.

/// A boxed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    /// A string that is large or was modified in place (APPEND, SETRANGE, SETBIT): a `Vec`
    /// gives amortised growth, so repeated appends stay linear.
    Str(Vec<u8>),
}

impl Object {
    /// Heap bytes owned by the object (approximate, for MEMORY USAGE and INFO).
    pub fn mem_usage(&self) -> usize {
        std::mem::size_of::<Object>()
            + match self {
                Object::Str(v) => v.capacity(),
            }
    }

    /// Redis's name for the type (TYPE command).
    pub fn type_name(&self) -> &'static str {
        match self {
            Object::Str(_) => "string",
        }
    }
}
