fn main() { println!("xtask: train-all | eval | report | datasets"); }
