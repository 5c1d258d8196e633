//! The name-server list, with rotation on failure.

use alloc::string::String;
use alloc::vec::Vec;

/// Name servers in configured order; requests go to the current one, and a
/// failure moves on to the next.
#[derive(Debug, Clone)]
pub(crate) struct NameServers {
    addrs: Vec<String>,
    current: usize,
}

impl NameServers {
    /// Starts at a position chosen by `seed`, like Java's random start index.
    pub(crate) fn new(addrs: Vec<String>, seed: u64) -> Self {
        let current = if addrs.is_empty() {
            0
        } else {
            (seed % addrs.len() as u64) as usize
        };
        NameServers { addrs, current }
    }

    pub(crate) fn len(&self) -> usize {
        self.addrs.len()
    }

    pub(crate) fn current(&self) -> Option<&str> {
        self.addrs.get(self.current).map(String::as_str)
    }

    /// Moves to the next name server after `failed`, unless another failure
    /// already moved on.
    pub(crate) fn rotate_past(&mut self, failed: &str) {
        if self.current() == Some(failed) && !self.addrs.is_empty() {
            self.current = (self.current + 1) % self.addrs.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn rotation_moves_past_a_failed_server_once() {
        let mut ns = NameServers::new(vec!["a".into(), "b".into(), "c".into()], 0);
        assert_eq!(ns.current(), Some("a"));
        ns.rotate_past("a");
        ns.rotate_past("a");
        assert_eq!(ns.current(), Some("b"));
    }

    #[test]
    fn rotation_wraps_around() {
        let mut ns = NameServers::new(vec!["a".into(), "b".into()], 1);
        ns.rotate_past("b");
        assert_eq!(ns.current(), Some("a"));
    }
}
