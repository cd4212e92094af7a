//! The data-cache sizes of the CPU, read at run time (CPUID on x86-64), from which the blocked
//! f32 GEMM chooses its block sizes.

/// Sizes in bytes of the level-1 data cache and the level-2 cache of one core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheSizes {
    /// Level-1 data cache.
    pub l1d: usize,
    /// Level-2 cache (unified).
    pub l2: usize,
}

/// Used where the CPU does not say: the smallest of current x86-64 server cores.
const FALLBACK: CacheSizes = CacheSizes {
    l1d: 32 << 10,
    l2: 512 << 10,
};

impl CacheSizes {
    /// The caches of the CPU this runs on (read once per process).
    pub fn of_this_cpu() -> CacheSizes {
        static SIZES: std::sync::OnceLock<CacheSizes> = std::sync::OnceLock::new();
        *SIZES.get_or_init(|| read().unwrap_or(FALLBACK))
    }
}

/// The deterministic cache parameters of CPUID: leaf 4 on Intel, leaf `0x8000_001D` on AMD
/// (the same layout). Each sub-leaf describes one cache: type (1 data, 3 unified), level, ways,
/// partitions, line size and sets.
#[cfg(target_arch = "x86_64")]
fn read() -> Option<CacheSizes> {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    // CPUID exists on every x86-64 CPU (safe to call since Rust 1.87); leaves above the
    // maximum the CPU reports are not queried.
    let (vendor, max_basic, max_extended) = {
        let v = __cpuid(0);
        (v.ebx, v.eax, __cpuid(0x8000_0000).eax)
    };
    const AUTHENTIC_AMD: u32 = u32::from_le_bytes(*b"Auth");
    const HYGON: u32 = u32::from_le_bytes(*b"Hygo");
    let leaf = if vendor == AUTHENTIC_AMD || vendor == HYGON {
        (max_extended >= 0x8000_001D).then_some(0x8000_001D)
    } else {
        (max_basic >= 4).then_some(4)
    }?;
    let (mut l1d, mut l2) = (None, None);
    for sub in 0..16 {
        let r = __cpuid_count(leaf, sub);
        let kind = r.eax & 0x1f;
        if kind == 0 {
            break;
        }
        let level = (r.eax >> 5) & 0x7;
        let ways = ((r.ebx >> 22) & 0x3ff) as usize + 1;
        let partitions = ((r.ebx >> 12) & 0x3ff) as usize + 1;
        let line = (r.ebx & 0xfff) as usize + 1;
        let sets = r.ecx as usize + 1;
        let size = ways * partitions * line * sets;
        match (level, kind) {
            (1, 1) => l1d = Some(size),
            (2, 1 | 3) => l2 = Some(size),
            _ => {}
        }
    }
    Some(CacheSizes {
        l1d: l1d.filter(|&s| s >= 8 << 10)?,
        l2: l2.filter(|&s| s >= 64 << 10)?,
    })
}

#[cfg(not(target_arch = "x86_64"))]
fn read() -> Option<CacheSizes> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_plausible() {
        let c = CacheSizes::of_this_cpu();
        println!("{c:?}");
        assert!((8 << 10..=4 << 20).contains(&c.l1d), "{c:?}");
        assert!(c.l2 >= c.l1d && c.l2 <= 1 << 30, "{c:?}");
    }
}
