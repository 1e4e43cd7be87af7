fn main() {
    minato_runtime::shim::main(std::env::args().skip(1).collect())
}
