//! Which actions may run before the strong model has agreed to them.
//!
//! Policy H executes the cheap proposal *speculatively*, while the strong model still decodes.
//! That is only lossless when discarding the result undoes everything, so only side-effect-free
//! kinds — [`ActionKind::FileRead`] and [`ActionKind::Retrieval`] — may run speculatively. The
//! API enforces it: an executor of speculative actions takes a [`SpeculativeAction`], which
//! [`SpeculativeAction::new`] only builds for those kinds.

use serde::Serialize;
use spec_actions_core::{Action, ActionKind};

/// Side-effect classification of action kinds (an extension of the core [`ActionKind`]).
pub trait SideEffects {
    /// True for kinds whose execution changes nothing outside the agent (reads and
    /// retrievals), which may therefore run speculatively.
    fn is_side_effect_free(&self) -> bool;
}

impl SideEffects for ActionKind {
    fn is_side_effect_free(&self) -> bool {
        matches!(self, ActionKind::FileRead | ActionKind::Retrieval)
    }
}

/// An action proven side-effect free, the only thing a speculative executor may run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpeculativeAction(Action);

/// The action was refused for speculative execution: its kind may have side effects.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0} may have side effects and cannot be executed speculatively")]
pub struct HasSideEffects(pub ActionKind);

impl SpeculativeAction {
    /// Wrap `action` if its kind is side-effect free.
    pub fn new(action: Action) -> Result<Self, HasSideEffects> {
        if action.kind.is_side_effect_free() {
            Ok(SpeculativeAction(action))
        } else {
            Err(HasSideEffects(action.kind))
        }
    }

    pub fn action(&self) -> &Action {
        &self.0
    }

    pub fn into_action(self) -> Action {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reads_and_retrievals_are_speculative() {
        let free: Vec<ActionKind> = ActionKind::ALL
            .into_iter()
            .filter(|k| k.is_side_effect_free())
            .collect();
        assert_eq!(free, vec![ActionKind::Retrieval, ActionKind::FileRead]);
        assert!(SpeculativeAction::new(Action::kind(ActionKind::FileRead)).is_ok());
        assert_eq!(
            SpeculativeAction::new(Action::kind(ActionKind::FileWrite)),
            Err(HasSideEffects(ActionKind::FileWrite))
        );
    }
}
