//! Builds the documents for the built-in kinds, reports the time and sizes, and with a
//! directory argument writes them there (`<dir>/v2.json`, `<dir>/v2.pb`,
//! `<dir>/v3/<gv>.json`).

use std::time::Instant;

use minato_openapi::{CustomSchemas, OpenApi};
use minato_resources::Registry;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let registry = Registry::new();
    let start = Instant::now();
    let api = OpenApi::from_registry(&registry, &CustomSchemas::new())?;
    let elapsed = start.elapsed();
    let start = Instant::now();
    let (v2, _) = api.v2_document()?;
    let v2_elapsed = start.elapsed();
    let start = Instant::now();
    let (v2_pb, _) = api.v2_protobuf()?;
    let v2_pb_elapsed = start.elapsed();
    let mut total = 0;
    for gv in api.group_versions() {
        if let Some((bytes, _)) = api.v3_document(&gv) {
            total += bytes.len();
        }
    }
    println!(
        "built {} v3 documents ({total} bytes) in {elapsed:?}, v2 ({} bytes) in {v2_elapsed:?}, \
         v2 protobuf ({} bytes) in {v2_pb_elapsed:?}",
        api.group_versions().len(),
        v2.len(),
        v2_pb.len()
    );
    if let Some(dir) = std::env::args().nth(1) {
        let dir = std::path::Path::new(&dir);
        std::fs::create_dir_all(dir.join("v3"))?;
        std::fs::write(dir.join("v2.json"), &*v2)?;
        std::fs::write(dir.join("v2.pb"), &*v2_pb)?;
        std::fs::write(dir.join("index.json"), &*api.v3_index_bytes())?;
        for gv in api.group_versions() {
            if let Some((bytes, _)) = api.v3_document(&gv) {
                std::fs::write(
                    dir.join("v3").join(gv.replace('/', "__") + ".json"),
                    &*bytes,
                )?;
            }
        }
    }
    Ok(())
}
