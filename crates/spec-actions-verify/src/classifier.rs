//! The live bag-of-words classifier role: a fitted
//! [`spec_actions_baseline::KindClassifier`] answering as a [`Classifier`], and
//! the recorded form of its answer ([`record_classifier`]), which the live role and the
//! recorder share so that a live decision and its replay see the same probabilities and the
//! same call.

use std::time::Instant;

use spec_actions_baseline::KindClassifier;
use spec_actions_core::{ActionKind, CostModel, Example, ModelCall, ModelRole};

use crate::error::Result;
use crate::recorded::{KindProbs, RecordedCall, RecordedClassifier};
use crate::roles::Classifier;

/// The classifier's answer about `example` in the recorded format: its nine probabilities and
/// a call whose `prefill_tokens` are the row's non-zero features, with the measured time;
/// `model` names the classifier in the ledger.
pub fn record_classifier(
    classifier: &KindClassifier,
    example: &Example,
    model: Option<&str>,
) -> RecordedClassifier {
    let started = Instant::now();
    let (probs, non_zeros) = classifier.predict_proba_counted(example);
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let mut kind_probs = [0.0; ActionKind::COUNT];
    kind_probs
        .iter_mut()
        .zip(probs)
        .for_each(|(o, p)| *o = f64::from(p).clamp(0.0, 1.0));
    RecordedClassifier {
        kind_probs: KindProbs(kind_probs),
        call: RecordedCall {
            model: model.map(str::to_string),
            prefill_tokens: non_zeros as u64,
            decode_tokens: 0,
            prefill_ms: Some(ms),
            decode_ms: None,
        },
    }
}

/// [`Classifier`] on a fitted [`KindClassifier`], priced by `costs`.
pub struct LiveClassifier<'a> {
    /// The fitted classifier.
    pub classifier: &'a KindClassifier,
    /// Prices its calls ([`ModelRole::Classifier`]).
    pub costs: &'a CostModel,
    /// The name its calls carry (e.g. `tiny:classifier`).
    pub model: Option<String>,
}

impl Classifier for LiveClassifier<'_> {
    fn classify(&mut self, example: &Example) -> Result<(KindProbs, ModelCall)> {
        let r = record_classifier(self.classifier, example, self.model.as_deref());
        Ok((r.kind_probs, r.call.priced(self.costs, ModelRole::Classifier)))
    }
}
