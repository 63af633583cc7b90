//! Splits by conversation group, never by example: train, dev (threshold calibration), eval
//! (a fixed number of examples, stratified by kind and source) and heldout (one BFCL category).
//!
//! 1. Every group ([`Conversation::group`]) with a conversation of the held-out category goes
//!    to `heldout`.
//! 2. The other groups are shuffled (seeded). Groups are taken, in that order, into the eval
//!    *pool* while they contribute a kind whose pool count is below its target (twice its eval
//!    quota, at most half of what exists), so rare kinds are found without taking half the data.
//! 3. Eval quotas are equal per kind (`eval_size / 9`; a kind short of examples passes its
//!    remainder to the others) so that per-kind accuracy rests on about 55 examples each; within
//!    a kind the quota is shared across sources in proportion to the pool (largest remainder),
//!    and examples are drawn at random within each (kind, source) stratum. Pool examples not
//!    drawn are discarded (counted in the card), since their conversations are in eval.
//! 4. The next groups go to `dev` until it holds `dev_fraction` of the remaining examples; the
//!    rest is `train`.

use std::collections::{BTreeMap, BTreeSet};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use spec_actions_core::{ActionKind, Example, Split};

use super::conversation::Conversation;

/// How to split.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitConfig {
    pub seed: u64,
    pub eval_size: usize,
    pub dev_fraction: f64,
    /// BFCL category (e.g. `simple_java`) held out whole; `None` for no heldout split.
    pub heldout_category: Option<String>,
}

/// The examples of each split, in file order, with `split` set.
#[derive(Debug, Clone, Default)]
pub struct Splits {
    pub train: Vec<Example>,
    pub dev: Vec<Example>,
    pub eval: Vec<Example>,
    pub heldout: Vec<Example>,
    /// Examples of eval-pool conversations not drawn into eval.
    pub eval_pool_unused: usize,
}

impl Splits {
    pub fn get(&self, split: Split) -> &[Example] {
        match split {
            Split::Train => &self.train,
            Split::Dev => &self.dev,
            Split::Eval => &self.eval,
            Split::Heldout => &self.heldout,
        }
    }
}

/// Split `conversations` (see the module docs).
pub fn split_conversations(conversations: Vec<Conversation>, config: &SplitConfig) -> Splits {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x5851_f42d_4c95_7f2d);
    // 1. Groups, in a deterministic order.
    let mut groups: BTreeMap<String, Vec<Conversation>> = BTreeMap::new();
    for c in conversations {
        groups.entry(c.group.clone()).or_default().push(c);
    }
    let heldout_source = config.heldout_category.as_ref().map(|c| format!("bfcl:{c}"));
    let mut heldout = Vec::new();
    let mut rest: Vec<Vec<Conversation>> = Vec::new();
    for (_, convs) in groups {
        if heldout_source
            .as_ref()
            .is_some_and(|s| convs.iter().any(|c| &c.source == s))
        {
            heldout.extend(convs.into_iter().flat_map(|c| c.examples));
        } else {
            rest.push(convs);
        }
    }
    rest.shuffle(&mut rng);
    // 2. Eval pool.
    let mut available = [0usize; ActionKind::COUNT];
    for ex in rest.iter().flatten().flat_map(|c| &c.examples) {
        available[ex.gold.kind.index()] += 1;
    }
    let quotas = kind_quotas(config.eval_size, &available);
    let target: Vec<usize> = (0..ActionKind::COUNT)
        .map(|k| (2 * quotas[k]).min(available[k].div_ceil(2)).max(quotas[k]))
        .collect();
    let mut pool_counts = [0usize; ActionKind::COUNT];
    let mut pool: Vec<Example> = Vec::new();
    let mut remaining: Vec<Vec<Conversation>> = Vec::new();
    for group in rest {
        let filled = (0..ActionKind::COUNT).all(|k| pool_counts[k] >= target[k]);
        let helps = group
            .iter()
            .flat_map(|c| &c.examples)
            .any(|e| pool_counts[e.gold.kind.index()] < target[e.gold.kind.index()]);
        if config.eval_size > 0 && !filled && helps {
            for e in group.into_iter().flat_map(|c| c.examples) {
                pool_counts[e.gold.kind.index()] += 1;
                pool.push(e);
            }
        } else {
            remaining.push(group);
        }
    }
    // 3. Stratified draw.
    let pool_quotas = kind_quotas(config.eval_size, &pool_counts);
    let mut chosen = vec![false; pool.len()];
    for kind in ActionKind::ALL {
        let mut by_source: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, e) in pool.iter().enumerate() {
            if e.gold.kind == kind {
                by_source.entry(e.source.as_str()).or_default().push(i);
            }
        }
        let sizes: Vec<usize> = by_source.values().map(Vec::len).collect();
        let shares = largest_remainder(pool_quotas[kind.index()], &sizes);
        for ((_, mut idx), share) in by_source.into_iter().zip(shares) {
            idx.shuffle(&mut rng);
            for &i in idx.iter().take(share) {
                chosen[i] = true;
            }
        }
    }
    let mut splits = Splits::default();
    for (e, keep) in pool.into_iter().zip(chosen) {
        if keep {
            splits.eval.push(e);
        } else {
            splits.eval_pool_unused += 1;
        }
    }
    // 4. Dev and train.
    let total: usize = remaining.iter().flatten().map(|c| c.examples.len()).sum();
    let dev_target = (total as f64 * config.dev_fraction).round() as usize;
    for group in remaining {
        let dest = if splits.dev.len() < dev_target {
            &mut splits.dev
        } else {
            &mut splits.train
        };
        dest.extend(group.into_iter().flat_map(|c| c.examples));
    }
    splits.heldout = heldout;
    for (split, list) in [
        (Split::Train, &mut splits.train),
        (Split::Dev, &mut splits.dev),
        (Split::Eval, &mut splits.eval),
        (Split::Heldout, &mut splits.heldout),
    ] {
        for e in list.iter_mut() {
            e.split = split;
        }
    }
    splits
}

/// Equal per-kind quotas summing to `total`, none above what is `available`; what a short
/// kind cannot take goes to the others, round-robin.
fn kind_quotas(total: usize, available: &[usize; ActionKind::COUNT]) -> [usize; ActionKind::COUNT] {
    let mut quotas = [0usize; ActionKind::COUNT];
    let mut left = total.min(available.iter().sum());
    while left > 0 {
        let open: Vec<usize> = (0..ActionKind::COUNT)
            .filter(|&k| quotas[k] < available[k])
            .collect();
        if open.is_empty() {
            break;
        }
        let each = (left / open.len()).max(1);
        for k in open {
            if left == 0 {
                break;
            }
            let add = each.min(available[k] - quotas[k]).min(left);
            quotas[k] += add;
            left -= add;
        }
    }
    quotas
}

/// Share `total` across strata of `sizes` in proportion (largest remainder, ties to the
/// earlier stratum), never above a stratum's size.
fn largest_remainder(total: usize, sizes: &[usize]) -> Vec<usize> {
    let sum: usize = sizes.iter().sum();
    if sum == 0 {
        return vec![0; sizes.len()];
    }
    let total = total.min(sum);
    let mut shares: Vec<usize> = sizes.iter().map(|&s| total * s / sum).collect();
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse((total * sizes[i]) % sum));
    let mut left = total - shares.iter().sum::<usize>();
    for &i in order.iter().cycle().take(sizes.len() * 2) {
        if left == 0 {
            break;
        }
        if shares[i] < sizes[i] {
            shares[i] += 1;
            left -= 1;
        }
    }
    shares
}

/// Conversation ids found in more than one split (empty for a valid split).
pub fn leaked_conversations(splits: &Splits) -> BTreeSet<String> {
    let mut seen: BTreeMap<&str, Split> = BTreeMap::new();
    let mut leaked = BTreeSet::new();
    for split in [Split::Train, Split::Dev, Split::Eval, Split::Heldout] {
        for e in splits.get(split) {
            match seen.get(e.conversation.as_str()) {
                Some(&s) if s != split => {
                    leaked.insert(e.conversation.clone());
                }
                _ => {
                    seen.insert(&e.conversation, split);
                }
            }
        }
    }
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_are_equal_and_redistribute() {
        let q = kind_quotas(90, &[100; 9]);
        assert_eq!(q, [10; 9]);
        let mut avail = [100; 9];
        avail[8] = 2;
        let q = kind_quotas(90, &avail);
        assert_eq!(q[8], 2);
        assert_eq!(q.iter().sum::<usize>(), 90);
        assert_eq!(kind_quotas(500, &[1; 9]).iter().sum::<usize>(), 9);
    }

    #[test]
    fn largest_remainder_shares() {
        assert_eq!(largest_remainder(10, &[50, 30, 20]), vec![5, 3, 2]);
        assert_eq!(largest_remainder(3, &[1, 1, 1, 1]).iter().sum::<usize>(), 3);
        assert_eq!(largest_remainder(10, &[2, 1]), vec![2, 1]);
        let s = largest_remainder(7, &[10, 10, 1]);
        assert_eq!(s.iter().sum::<usize>(), 7);
    }
}
