//! What a term costs in memory, estimated the way the decoder bounds it.

use super::{Fun, Term};

/// The memory `term` occupies, estimated as
/// [`DecodeLimits::max_decoded_bytes`](super::DecodeLimits::max_decoded_bytes)
/// counts it: `size_of::<Term>()` per term plus the bytes of every binary,
/// bit string, bignum and opaque fun. Atoms are interned and count as their
/// slot only. Walks the term; allocates nothing.
pub fn memory_estimate(term: &Term) -> usize {
    const NODE: usize = std::mem::size_of::<Term>();
    NODE + match term {
        Term::Int(_) | Term::Float(_) | Term::Atom(_) | Term::Pid(_) | Term::Port(_) => 0,
        Term::BigInt(b) => (b.bits() as usize).div_ceil(8),
        Term::Binary(b) | Term::Local(b) => b.len(),
        Term::BitString(b) => b.bytes.len(),
        Term::Ref(r) => 4 * r.id().len(),
        Term::Fun(f) => match &**f {
            Fun::Export(_) => 0,
            Fun::Local(l) => l.encoded.len(),
        },
        Term::Tuple(elements) | Term::List(elements) => elements.iter().map(memory_estimate).sum(),
        Term::ImproperList(elements, tail) => {
            elements.iter().map(memory_estimate).sum::<usize>() + memory_estimate(tail)
        }
        Term::Map(m) => m.iter().map(|(k, v)| memory_estimate(k) + memory_estimate(v)).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{list, tuple};

    #[test]
    fn binaries_count_their_bytes_and_containers_their_elements() {
        const NODE: usize = std::mem::size_of::<Term>();
        assert_eq!(memory_estimate(&Term::from(1)), NODE);
        assert_eq!(memory_estimate(&Term::binary(vec![0u8; 1000])), NODE + 1000);
        assert_eq!(memory_estimate(&list![1, 2, 3]), 4 * NODE);
        assert_eq!(memory_estimate(&tuple![Term::binary(vec![0u8; 10]), list![]]), 3 * NODE + 10);
    }
}
