//! The TF-IDF vectoriser against values computed by hand on a three-document corpus, with
//! scikit-learn's `TfidfVectorizer` conventions (smooth idf, sublinear tf, l2 rows).

use approx::assert_abs_diff_eq;
use spec_actions_baseline::tfidf::{TfIdf, smooth_idf};

/// d0 = x x y, d1 = y z, d2 = y w. n = 3; df(x) = df(z) = df(w) = 1, df(y) = 3.
fn corpus() -> Vec<Vec<&'static str>> {
    vec![vec!["x", "x", "y"], vec!["y", "z"], vec!["y", "w"]]
}

const IDF_RARE: f64 = 1.693_147_180_559_945_4; // ln(4/2) + 1
const IDF_Y: f64 = 1.0; // ln(4/4) + 1

#[test]
fn idf_is_smooth_and_vocabulary_sorted() {
    assert_abs_diff_eq!(smooth_idf(3, 1), IDF_RARE, epsilon = 1e-15);
    assert_abs_diff_eq!(smooth_idf(3, 3), IDF_Y, epsilon = 1e-15);
    let (tfidf, _) = TfIdf::fit_transform(corpus(), 1, true);
    assert_eq!(tfidf.vocabulary(), ["w", "x", "y", "z"]);
    let want = [IDF_RARE, IDF_RARE, IDF_Y, IDF_RARE];
    for (got, want) in tfidf.idf().iter().zip(want) {
        assert_abs_diff_eq!(*got, want, epsilon = 1e-12);
    }
}

/// d0: tf(x) = 2 → 1 + ln 2 = 1.693147; x = 1.693147 · 1.693147 = 2.866748, y = 1;
/// norm = √(2.866748² + 1) = 3.036156 → x = 0.944203, y = 0.329364.
/// d1: y = 1, z = 1.693147; norm = 1.966418 → y = 0.508542, z = 0.861037.
#[test]
fn sublinear_rows_match_hand_computed_values() {
    let (tfidf, rows) = TfIdf::fit_transform(corpus(), 1, true);
    let col = |t: &str| tfidf.column(t).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].nnz(), 2);
    assert_abs_diff_eq!(rows[0].get(col("x")), 0.944_203_065_230_801_4, epsilon = 1e-12);
    assert_abs_diff_eq!(rows[0].get(col("y")), 0.329_363_889_351_518_2, epsilon = 1e-12);
    assert_abs_diff_eq!(rows[1].get(col("y")), 0.508_542_320_378_326_7, epsilon = 1e-12);
    assert_abs_diff_eq!(rows[1].get(col("z")), 0.861_036_995_943_976_4, epsilon = 1e-12);
    assert_eq!(rows[1].get(col("x")), 0.0);
    // d2 has the same shape as d1 with w for z.
    assert_abs_diff_eq!(rows[2].get(col("w")), rows[1].get(col("z")), epsilon = 1e-15);
    // transform of a training document gives its training row.
    assert_eq!(tfidf.transform(["x", "y", "x"]), rows[0]);
}

/// Without sublinear tf, d0: x = 2 · 1.693147 = 3.386294, y = 1; norm = 3.530906 →
/// x = 0.959056, y = 0.283217.
#[test]
fn raw_counts_match_hand_computed_values() {
    let (tfidf, rows) = TfIdf::fit_transform(corpus(), 1, false);
    assert!(!tfidf.sublinear_tf());
    assert_abs_diff_eq!(
        rows[0].get(tfidf.column("x").unwrap()),
        0.959_055_876_057_71,
        epsilon = 1e-12
    );
    assert_abs_diff_eq!(
        rows[0].get(tfidf.column("y").unwrap()),
        0.283_216_924_987_152_6,
        epsilon = 1e-12
    );
}

/// min_df = 2 keeps only y (in all three documents); its idf still counts all three
/// documents (1.0), and each row is y alone, normalised to 1.
#[test]
fn min_df_drops_rare_terms() {
    let (tfidf, rows) = TfIdf::fit_transform(corpus(), 2, true);
    assert_eq!(tfidf.vocabulary(), ["y"]);
    assert_eq!(tfidf.idf(), [1.0]);
    for row in &rows {
        assert_eq!(row.indices, [0]);
        assert_abs_diff_eq!(row.values[0], 1.0, epsilon = 1e-15);
    }
}

#[test]
fn unknown_terms_are_ignored_and_empty_documents_give_empty_rows() {
    let (tfidf, _) = TfIdf::fit_transform(corpus(), 1, true);
    let row = tfidf.transform(["z", "z", "unseen"]);
    assert_eq!(row.indices, [tfidf.column("z").unwrap() as u32]);
    assert_abs_diff_eq!(row.values[0], 1.0, epsilon = 1e-15);
    assert_eq!(tfidf.transform(Vec::<String>::new()).nnz(), 0);
    assert_eq!(tfidf.transform(["unseen"]).nnz(), 0);
}
