//! Hostile BFCL call strings: deep nesting must be an error, never a stack overflow (which
//! aborts the whole process, taking a dataset build with it); offsets stay inside the text.

use spec_actions_data::call_parser::parse_call;

#[test]
fn deeply_nested_arguments_are_an_error_not_a_stack_overflow() {
    for (open, close) in [("[", "]"), ("(", ")"), ("{", "}"), ("{1: ", "}")] {
        let depth = 100_000;
        let text = format!("f(x={}1{})", open.repeat(depth), close.repeat(depth));
        // On a 4 MiB stack: ample for the accepted depth, far too small for 100000 levels of
        // unbounded recursion (at least two frames per level), so the test cannot pass by luck.
        let result = std::thread::Builder::new()
            .stack_size(4 * 1024 * 1024)
            .spawn(move || parse_call(&text).map(|_| ()).map_err(|e| (e.offset, e.reason)))
            .unwrap()
            .join()
            .expect("parser thread overflowed its stack or panicked");
        let (offset, reason) = result.expect_err("nesting 100000 deep is refused");
        assert!(reason.contains("nested"), "{open}: {reason}");
        assert!(offset < 10 + depth * open.len(), "{open}: offset {offset}");
    }
}

#[test]
fn moderate_nesting_still_parses() {
    let text = format!("f(x={}1{})", "[".repeat(20), "]".repeat(20));
    let call = parse_call(&text).unwrap();
    let mut value = &call.keyword[0].1;
    for _ in 0..20 {
        value = &value.as_array().unwrap()[0];
    }
    assert_eq!(value, &serde_json::json!(1));
}

#[test]
fn hostile_strings_are_errors_with_offsets_inside_the_text() {
    let cases = [
        "f(",
        "f(x='unterminated",
        "f(x='\\",
        "f(x='\\x4')",
        "f(x='\\U0011ffff')",
        "f(x=1e999)",
        "f(x=99999999999999999999999)",
        "f(x=-)",
        "f(x=.)",
        "f(x=nan)",
        "f(1, x=2, 3)",
        "f(x='é\n')",
        "f(x=r'\\",
        "f(x={[1]: 2})",
        "f()trailing",
        "é(x=1)",
        "",
    ];
    for text in cases {
        let err = parse_call(text).expect_err(text);
        assert!(
            err.offset <= text.len(),
            "{text:?}: offset {} > {}",
            err.offset,
            text.len()
        );
    }
}
