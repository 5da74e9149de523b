//! Run one xai-proto benchmark: `cargo run -p xai-proto --example proto_bench -- regimemix [--quick]`.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).map(String::as_str).unwrap_or("regimemix");
    let opts = xai_proto::bench::BenchOptions {
        quick: args.iter().any(|a| a == "--quick"),
        seed: args
            .iter()
            .position(|a| a == "--seed")
            .and_then(|i| args.get(i + 1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        progress: true,
        out: "/tmp/xai-proto".into(),
        ..Default::default()
    };
    let r = match name {
        "regimemix" => xai_proto::bench::regimemix::run(&opts),
        "partshapes" => xai_proto::bench::partshapes::run(&opts),
        "conceptsprites" => xai_proto::bench::conceptsprites::run(&opts),
        "cleverhans" => xai_proto::bench::cleverhans::run(&opts),
        other => {
            eprintln!("unknown benchmark {other}");
            std::process::exit(2)
        }
    };
    match r {
        Ok(v) => println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1)
        }
    }
}
