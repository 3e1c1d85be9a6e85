fn main() {
    println!("tinyvrrp {}", env!("CARGO_PKG_VERSION"));
}
