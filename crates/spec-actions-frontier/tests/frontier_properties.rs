//! Properties of the Pareto frontier on random point sets (on a grid, so ties happen).

use proptest::prelude::*;
use spec_actions_frontier::{Frontier, Point, Status, dominates};

fn points() -> impl Strategy<Value = Vec<Point>> {
    prop::collection::vec((0u32..20, 0u32..20), 1..24).prop_map(|pairs| {
        pairs
            .into_iter()
            .enumerate()
            .map(|(i, (c, a))| Point::new(format!("P{i}"), f64::from(c) / 10.0, f64::from(a) / 20.0))
            .collect()
    })
}

proptest! {
    #[test]
    fn no_frontier_point_is_dominated(points in points()) {
        let f = Frontier::new(points.clone()).unwrap();
        for p in f.frontier() {
            for q in &points {
                prop_assert!(dominates(q, &p.point).is_none(), "{} dominates frontier point {}", q.name, p.point.name);
            }
        }
    }

    #[test]
    fn every_other_point_is_dominated_by_the_frontier_point_it_names(points in points()) {
        let f = Frontier::new(points.clone()).unwrap();
        prop_assert!(f.frontier().count() >= 1);
        for p in &f.placements {
            if let Status::Dominated { by, reason } = &p.status {
                let dominator = f.get(by).unwrap();
                prop_assert!(dominator.status.is_frontier());
                prop_assert_eq!(dominates(&dominator.point, &p.point), Some(*reason));
                prop_assert!(p.rank > 1);
            } else {
                prop_assert_eq!(p.rank, 1);
                // Not dominated by anyone.
                prop_assert!(points.iter().all(|q| dominates(q, &p.point).is_none()));
            }
        }
    }

    #[test]
    fn input_order_is_irrelevant(points in points(), seed in any::<u64>()) {
        let mut shuffled = points.clone();
        // Deterministic Fisher-Yates from the seed.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(Frontier::new(points).unwrap(), Frontier::new(shuffled).unwrap());
    }
}
