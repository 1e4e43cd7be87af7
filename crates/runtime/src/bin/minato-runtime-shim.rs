fn main() {
    minato_runtime::pid_holder::main_if_holder();
    minato_runtime::shim::main(std::env::args().skip(1).collect())
}
