//! The parts models play in a decision ([`ModelRole`]) and a value per role ([`RoleMap`]).
//!
//! One enum names every role everywhere: prices and parameter counts ([`crate::CostModel`]),
//! model names, the pipeline's role specs and run folders, recorded calls. Its names
//! (`cheap`, `verifier`, `reward`, `strong`, `classifier`) are the JSON / TOML keys and folder
//! names; `reward_model`, the name results files written before this enum used, still reads.
//!
//! A [`RoleMap`] is an array indexed by the role, written as an object keyed by role names, so
//! adding a role's entry is one place (its array slot) and no code reads roles by position.
//! [`LanguageModelMap`] is the same over the four language-model roles (the first four of
//! [`ModelRole::ALL`]), for what only they have: model names, training specs.
//! [`JudgeMap`] is the same over the two judges ([`ModelRole::JUDGES`]: verifier, reward), for
//! what only a judge has: its answers in a recording.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Index, IndexMut};
use std::str::FromStr;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The part a model plays in a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ModelRole {
    /// The cheap proposer (Qwen3-1.7B + LoRA in the study).
    Cheap,
    /// An ACCEPT/REJECT judge.
    Verifier,
    /// A scalar reward model.
    Reward,
    /// The strong model used as fallback (Qwen3-8B).
    Strong,
    /// The bag-of-words next-kind classifier (policy K and the first tier of the cascades):
    /// priced like a model, but no language model.
    Classifier,
}

impl ModelRole {
    /// Every role; index `i` of a [`RoleMap`] is `ALL[i]`.
    pub const ALL: [ModelRole; 5] = [
        ModelRole::Cheap,
        ModelRole::Verifier,
        ModelRole::Reward,
        ModelRole::Strong,
        ModelRole::Classifier,
    ];

    /// Number of roles (5).
    pub const COUNT: usize = 5;

    /// The four language-model roles, in the pipeline's training order (a judge may start from
    /// a role trained before it): the keys of a [`LanguageModelMap`].
    pub const LANGUAGE_MODELS: [ModelRole; 4] = [
        ModelRole::Cheap,
        ModelRole::Verifier,
        ModelRole::Reward,
        ModelRole::Strong,
    ];

    /// The two judges, which answer about a proposed action (the verifier's `P(ACCEPT)`, the
    /// reward model's score): the keys of a [`JudgeMap`].
    pub const JUDGES: [ModelRole; 2] = [ModelRole::Verifier, ModelRole::Reward];

    /// The role's name: its JSON / TOML key and run-folder name.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelRole::Cheap => "cheap",
            ModelRole::Verifier => "verifier",
            ModelRole::Reward => "reward",
            ModelRole::Strong => "strong",
            ModelRole::Classifier => "classifier",
        }
    }

    /// Position of this role in [`ModelRole::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the role judges a proposed action ([`ModelRole::JUDGES`]).
    pub fn is_judge(self) -> bool {
        Self::JUDGES.contains(&self)
    }

    /// Whether the role is played by a language model (every role but the classifier).
    pub fn is_language_model(self) -> bool {
        self != ModelRole::Classifier
    }
}

impl fmt::Display for ModelRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no [`ModelRole`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown model role `{0}` (expected cheap, verifier, reward, strong or classifier)")]
pub struct UnknownRole(pub String);

impl FromStr for ModelRole {
    type Err = UnknownRole;

    /// A role's name ([`ModelRole::as_str`]), or `reward_model` (the reward model's name in
    /// results files written before the roles were one enum).
    fn from_str(s: &str) -> Result<Self, UnknownRole> {
        if s == "reward_model" {
            return Ok(ModelRole::Reward);
        }
        ModelRole::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

impl Serialize for ModelRole {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ModelRole {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RoleVisitor;
        impl Visitor<'_> for RoleVisitor {
            type Value = ModelRole;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a model role (cheap, verifier, reward, strong or classifier)")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ModelRole, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(RoleVisitor)
    }
}

/// A value for each of the first `N` roles of [`ModelRole::ALL`] (all five by default):
/// array-backed, indexed by [`ModelRole`], (de)serialized as an object keyed by role names with
/// every key required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoleMap<T, const N: usize = 5>([T; N]);

/// A value for each language-model role ([`ModelRole::LANGUAGE_MODELS`]): cheap, verifier,
/// reward, strong.
pub type LanguageModelMap<T> = RoleMap<T, 4>;

impl<T, const N: usize> RoleMap<T, N> {
    /// The roles this map has an entry for, in order.
    pub fn roles() -> &'static [ModelRole] {
        &ModelRole::ALL[..N]
    }

    /// The map whose entry for each role is `f(role)`.
    pub fn from_fn(mut f: impl FnMut(ModelRole) -> T) -> Self {
        RoleMap(std::array::from_fn(|i| f(ModelRole::ALL[i])))
    }

    /// The map whose entry for each role is `f(role)`, or the first error (roles in order).
    pub fn try_from_fn<E>(mut f: impl FnMut(ModelRole) -> Result<T, E>) -> Result<Self, E> {
        let mut slots: [Option<T>; N] = std::array::from_fn(|_| None);
        for (i, slot) in slots.iter_mut().enumerate() {
            *slot = Some(f(ModelRole::ALL[i])?);
        }
        Ok(RoleMap(slots.map(|s| s.expect("every slot filled"))))
    }

    /// The map of the entries `given` has, each missing one `default(role)`; the roles
    /// missing from both, when there are any (for reading layouts that lacked a later role).
    pub fn from_partial(
        mut given: std::collections::BTreeMap<ModelRole, T>,
        default: impl Fn(ModelRole) -> Option<T>,
    ) -> Result<Self, Vec<ModelRole>> {
        let mut missing = Vec::new();
        let slots: [Option<T>; N] = std::array::from_fn(|i| {
            let role = ModelRole::ALL[i];
            let v = given.remove(&role).or_else(|| default(role));
            if v.is_none() {
                missing.push(role);
            }
            v
        });
        if !missing.is_empty() {
            return Err(missing);
        }
        Ok(RoleMap(slots.map(|s| s.expect("every slot checked"))))
    }

    /// The entry of `role`, if this map has one (a [`LanguageModelMap`] has none for the
    /// classifier).
    pub fn get(&self, role: ModelRole) -> Option<&T> {
        self.0.get(role.index())
    }

    /// Each role with its entry, in [`ModelRole::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (ModelRole, &T)> {
        ModelRole::ALL.into_iter().zip(self.0.iter())
    }

    /// The entries, in [`ModelRole::ALL`] order.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.0.iter()
    }

    /// The map of `f(role, entry)`.
    pub fn map<U>(self, mut f: impl FnMut(ModelRole, T) -> U) -> RoleMap<U, N> {
        let mut i = 0;
        RoleMap(self.0.map(|v| {
            let role = ModelRole::ALL[i];
            i += 1;
            f(role, v)
        }))
    }

    /// The map of `&entry`s.
    pub fn as_ref(&self) -> RoleMap<&T, N> {
        RoleMap(self.0.each_ref())
    }
}

impl<T: Default, const N: usize> Default for RoleMap<T, N> {
    fn default() -> Self {
        RoleMap::from_fn(|_| T::default())
    }
}

impl<T, const N: usize> Index<ModelRole> for RoleMap<T, N> {
    type Output = T;

    /// # Panics
    /// When the map has no entry for `role` (the classifier in a [`LanguageModelMap`]): a
    /// caller's mistake, like an index out of bounds.
    fn index(&self, role: ModelRole) -> &T {
        match self.0.get(role.index()) {
            Some(v) => v,
            None => panic!("a map over the {N} first roles has no `{role}` entry"),
        }
    }
}

impl<T, const N: usize> IndexMut<ModelRole> for RoleMap<T, N> {
    fn index_mut(&mut self, role: ModelRole) -> &mut T {
        match self.0.get_mut(role.index()) {
            Some(v) => v,
            None => panic!("a map over the {N} first roles has no `{role}` entry"),
        }
    }
}

impl<T: Serialize, const N: usize> Serialize for RoleMap<T, N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(N))?;
        for (role, v) in self.iter() {
            map.serialize_entry(role.as_str(), v)?;
        }
        map.end()
    }
}

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for RoleMap<T, N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MapVisitor<T, const N: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for MapVisitor<T, N> {
            type Value = RoleMap<T, N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let names: Vec<&str> = RoleMap::<T, N>::roles().iter().map(|r| r.as_str()).collect();
                write!(f, "an object with the keys {}", names.join(", "))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut slots: [Option<T>; N] = std::array::from_fn(|_| None);
                while let Some(role) = access.next_key::<ModelRole>()? {
                    let Some(slot) = slots.get_mut(role.index()) else {
                        return Err(de::Error::custom(format!("no `{role}` entry belongs here")));
                    };
                    if slot.is_some() {
                        return Err(de::Error::custom(format!("duplicate role `{role}`")));
                    }
                    *slot = Some(access.next_value()?);
                }
                let mut missing = None;
                for (i, slot) in slots.iter().enumerate() {
                    if slot.is_none() {
                        missing = Some(ModelRole::ALL[i]);
                        break;
                    }
                }
                if let Some(role) = missing {
                    return Err(de::Error::missing_field(role.as_str()));
                }
                Ok(RoleMap(slots.map(|s| s.expect("every slot checked"))))
            }
        }
        d.deserialize_map(MapVisitor::<T, N>(PhantomData))
    }
}

/// A value for each judge ([`ModelRole::JUDGES`]: verifier, reward), indexed by
/// [`ModelRole`] like a [`RoleMap`].
///
/// Written as an object keyed by the judges' names, where an entry equal to `T::default()` (a
/// judge that was not asked, e.g. an empty list of answers) is left out, and read back with a
/// missing entry as `T::default()` and keys of other roles or fields ignored — so it can be
/// `#[serde(flatten)]`ed into a record whose judges are top-level keys, as the recorded-outputs
/// format's `verifier` / `reward` are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct JudgeMap<T>([T; 2]);

impl<T> JudgeMap<T> {
    /// The map whose entry for each judge is `f(judge)`.
    pub fn from_fn(mut f: impl FnMut(ModelRole) -> T) -> Self {
        JudgeMap(ModelRole::JUDGES.map(&mut f))
    }

    /// The slot of `role` in the array, if it is a judge.
    fn slot(role: ModelRole) -> Option<usize> {
        ModelRole::JUDGES.iter().position(|&j| j == role)
    }

    /// The entry of `role`, if it is a judge.
    pub fn get(&self, role: ModelRole) -> Option<&T> {
        Self::slot(role).map(|i| &self.0[i])
    }

    /// Each judge with its entry, in [`ModelRole::JUDGES`] order.
    pub fn iter(&self) -> impl Iterator<Item = (ModelRole, &T)> {
        ModelRole::JUDGES.into_iter().zip(self.0.iter())
    }

    /// Each judge with its mutable entry, in [`ModelRole::JUDGES`] order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (ModelRole, &mut T)> {
        ModelRole::JUDGES.into_iter().zip(self.0.iter_mut())
    }
}

impl<T> Index<ModelRole> for JudgeMap<T> {
    type Output = T;

    /// # Panics
    /// When `role` is not a judge: a caller's mistake, like an index out of bounds.
    fn index(&self, role: ModelRole) -> &T {
        match Self::slot(role) {
            Some(i) => &self.0[i],
            None => panic!("a judge map has no `{role}` entry"),
        }
    }
}

impl<T> IndexMut<ModelRole> for JudgeMap<T> {
    fn index_mut(&mut self, role: ModelRole) -> &mut T {
        match Self::slot(role) {
            Some(i) => &mut self.0[i],
            None => panic!("a judge map has no `{role}` entry"),
        }
    }
}

impl<T: Serialize + Default + PartialEq> Serialize for JudgeMap<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let empty = T::default();
        let mut map = s.serialize_map(None)?;
        for (role, v) in self.iter().filter(|(_, v)| **v != empty) {
            map.serialize_entry(role.as_str(), v)?;
        }
        map.end()
    }
}

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for JudgeMap<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MapVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for MapVisitor<T> {
            type Value = JudgeMap<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an object with the optional keys verifier, reward")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut slots: [Option<T>; 2] = [None, None];
                while let Some(key) = access.next_key::<String>()? {
                    let slot = key.parse::<ModelRole>().ok().and_then(JudgeMap::<T>::slot);
                    let Some(i) = slot else {
                        access.next_value::<de::IgnoredAny>()?;
                        continue;
                    };
                    if slots[i].is_some() {
                        return Err(de::Error::custom(format!("duplicate field `{key}`")));
                    }
                    slots[i] = Some(access.next_value()?);
                }
                Ok(JudgeMap(slots.map(Option::unwrap_or_default)))
            }
        }
        d.deserialize_map(MapVisitor::<T>(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every role's name reads back as that role, `Display` is the name, and an unknown name is
    /// an error naming it.
    #[test]
    fn role_names_round_trip() {
        for role in ModelRole::ALL {
            assert_eq!(role.as_str().parse::<ModelRole>(), Ok(role));
            assert_eq!(role.to_string(), role.as_str());
            assert_eq!(ModelRole::ALL[role.index()], role);
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
            assert_eq!(serde_json::from_str::<ModelRole>(&json).unwrap(), role);
        }
        assert_eq!(ModelRole::ALL.len(), ModelRole::COUNT);
        let err = "judge".parse::<ModelRole>().unwrap_err().to_string();
        assert!(err.contains("`judge`"), "{err}");
    }

    /// Results files written before the one enum called the reward model `reward_model`: a
    /// recorded call of that role still reads.
    #[test]
    fn the_old_reward_model_name_still_reads() {
        let role: ModelRole = serde_json::from_str("\"reward_model\"").unwrap();
        assert_eq!(role, ModelRole::Reward);
        assert_eq!(serde_json::to_string(&role).unwrap(), "\"reward\"");
    }

    /// A map written out has one key per role, named as the role, and reads back equal; the
    /// language-model map has the four language-model roles, in training order.
    #[test]
    fn a_role_map_round_trips_with_every_role_key() {
        let prices: RoleMap<f64> = RoleMap::from_fn(|r| r.index() as f64 + 0.5);
        let json = serde_json::to_value(prices).unwrap();
        let mut keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        let mut expected: Vec<&str> = ModelRole::ALL.iter().map(|r| r.as_str()).collect();
        expected.sort();
        assert_eq!(keys, expected);
        assert_eq!(json["reward"], 2.5);
        assert_eq!(serde_json::from_value::<RoleMap<f64>>(json).unwrap(), prices);

        let names: LanguageModelMap<String> = LanguageModelMap::from_fn(|r| format!("tiny:{r}"));
        assert_eq!(LanguageModelMap::<String>::roles(), ModelRole::LANGUAGE_MODELS);
        assert_eq!(names[ModelRole::Reward], "tiny:reward");
        assert_eq!(names.get(ModelRole::Classifier), None);
        let text = serde_json::to_string(&names).unwrap();
        assert_eq!(
            text,
            r#"{"cheap":"tiny:cheap","verifier":"tiny:verifier","reward":"tiny:reward","strong":"tiny:strong"}"#
        );
        assert_eq!(
            serde_json::from_str::<LanguageModelMap<String>>(&text).unwrap(),
            names
        );
    }

    /// A missing, repeated, foreign or unknown key is an error naming it.
    #[test]
    fn a_role_map_with_a_bad_key_is_an_error_naming_it() {
        let err = |text: &str| {
            serde_json::from_str::<LanguageModelMap<u32>>(text)
                .unwrap_err()
                .to_string()
        };
        let e = err(r#"{"cheap": 1, "verifier": 2, "strong": 4}"#);
        assert!(e.contains("`reward`"), "{e}");
        let e = err(r#"{"cheap": 1, "cheap": 1, "verifier": 2, "reward": 3, "strong": 4}"#);
        assert!(e.contains("duplicate role `cheap`"), "{e}");
        let e = err(r#"{"cheap": 1, "verifier": 2, "reward": 3, "strong": 4, "classifier": 5}"#);
        assert!(e.contains("`classifier`"), "{e}");
        let e = err(r#"{"cheap": 1, "judge": 2}"#);
        assert!(e.contains("`judge`"), "{e}");
        // The old name is the same role, so it counts as the reward entry.
        let old: LanguageModelMap<u32> =
            serde_json::from_str(r#"{"cheap": 1, "verifier": 2, "reward_model": 3, "strong": 4}"#).unwrap();
        assert_eq!(old[ModelRole::Reward], 3);
    }

    /// `map` passes each entry with its own role; `iter` pairs them in `ALL` order.
    #[test]
    fn map_and_iter_keep_each_entry_with_its_role() {
        let lengths: RoleMap<usize> = RoleMap::from_fn(|r| r.as_str().len());
        let m = lengths.map(|r, n| format!("{r}={n}"));
        assert_eq!(m[ModelRole::Classifier], "classifier=10");
        let roles: Vec<ModelRole> = m.iter().map(|(r, _)| r).collect();
        assert_eq!(roles, ModelRole::ALL);
    }

    /// A judge map indexes the two judges, leaves out and reads back empty entries, ignores
    /// other keys (so it can be flattened into a record) and refuses a repeated judge.
    #[test]
    fn a_judge_map_keys_the_two_judges_and_omits_empty_entries() {
        let mut m: JudgeMap<Vec<u32>> = JudgeMap::default();
        m[ModelRole::Reward].push(7);
        assert_eq!(m.get(ModelRole::Verifier), Some(&vec![]));
        assert_eq!(m.get(ModelRole::Cheap), None);
        assert!(ModelRole::Reward.is_judge() && !ModelRole::Strong.is_judge());
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(text, r#"{"reward":[7]}"#);
        assert_eq!(serde_json::from_str::<JudgeMap<Vec<u32>>>(&text).unwrap(), m);
        let both: JudgeMap<Vec<u32>> =
            serde_json::from_str(r#"{"id": "x", "verifier": [1, 2], "reward_model": [3], "strong": {}}"#)
                .unwrap();
        assert_eq!(both[ModelRole::Verifier], vec![1, 2]);
        assert_eq!(both[ModelRole::Reward], vec![3]);
        let roles: Vec<ModelRole> = both.iter().map(|(r, _)| r).collect();
        assert_eq!(roles, ModelRole::JUDGES);
        let e = serde_json::from_str::<JudgeMap<Vec<u32>>>(r#"{"verifier": [1], "verifier": []}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("duplicate field `verifier`"), "{e}");
    }
}
