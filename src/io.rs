//! Files that are never half-written: a directory is filled under a temporary name beside its
//! destination and renamed into place, so a crash leaves either the old one or the new one.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

fn write_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// Fills a fresh directory with `fill` and renames it to `dest`, replacing what was there.
pub fn write_dir_atomically(dest: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(write_error(&parent))?;
    let name = dest
        .file_name()
        .map_or("out".into(), |n| n.to_string_lossy().into_owned());
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(write_error(&tmp))?;
    }
    std::fs::create_dir(&tmp).map_err(write_error(&tmp))?;
    if let Err(e) = fill(&tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    let had_old = dest.exists();
    if had_old {
        std::fs::rename(dest, &old).map_err(write_error(dest))?;
    }
    std::fs::rename(&tmp, dest).map_err(write_error(dest))?;
    if had_old {
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(())
}

/// Writes a file under a temporary name beside it, flushes it and renames it into place.
pub fn write_atomically(path: &Path, bytes: impl AsRef<[u8]>) -> Result<()> {
    let name = path
        .file_name()
        .map_or("out".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    write_file(&tmp, bytes)?;
    std::fs::rename(&tmp, path).map_err(write_error(path))
}

/// Writes a file and flushes it to disk (inside a directory that is renamed afterwards).
pub fn write_file(path: &Path, bytes: impl AsRef<[u8]>) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).map_err(write_error(path))?;
    f.write_all(bytes.as_ref()).map_err(write_error(path))?;
    f.sync_all().map_err(write_error(path))
}

/// Peak resident memory of this process so far, in MiB (Linux; 0 where unknown).
pub fn peak_memory_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Memory this process can still take, in bytes: the kernel's `MemAvailable`, lowered to what
/// is left under its memory cgroup's limit when it has one (v2 or v1). `None` where unknown.
pub fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let available = meminfo
        .lines()
        .find(|l| l.starts_with("MemAvailable:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())?
        * 1024;
    Some(cgroup_headroom().map_or(available, |h| h.min(available)))
}

/// The limit of this process's memory cgroup less its usage (`None`: no limit, or unknown).
fn cgroup_headroom() -> Option<u64> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let number =
        |path: PathBuf| -> Option<u64> { std::fs::read_to_string(path).ok()?.trim().parse().ok() };
    cgroups.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let path = path.trim_start_matches('/');
        let (dir, limit, usage) = if controllers.is_empty() {
            (
                Path::new("/sys/fs/cgroup").join(path),
                "memory.max",
                "memory.current",
            )
        } else if controllers.split(',').any(|c| c == "memory") {
            let dir = Path::new("/sys/fs/cgroup/memory").join(path);
            (dir, "memory.limit_in_bytes", "memory.usage_in_bytes")
        } else {
            return None;
        };
        let limit = number(dir.join(limit))?; // "max" (v2 without a limit) does not parse
        Some(limit.saturating_sub(number(dir.join(usage)).unwrap_or(0)))
    })
}

/// GiB in bytes, for memory figures.
pub const GIB: f64 = (1u64 << 30) as f64;

/// The metadata key of a file's checksum: CRC-32 of every tensor's name and bytes, in name order.
const CHECKSUM_KEY: &str = "crc32";

fn tensors_checksum<'a>(tensors: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut sorted: Vec<_> = tensors.into_iter().collect();
    sorted.sort_unstable_by_key(|(name, _)| *name);
    let mut hasher = crc32fast::Hasher::new();
    for (name, data) in sorted {
        hasher.update(name.as_bytes());
        hasher.update(data);
    }
    format!("{:08x}", hasher.finalize())
}

/// A safetensors file of `(name, dtype, shape, little-endian data)` tensors and `metadata`, its
/// header written with sorted keys so that the same tensors always make the same bytes, and a
/// checksum of the tensors in the metadata, which [`read_safetensors`] checks.
pub fn safetensors_bytes<'a>(
    tensors: impl IntoIterator<Item = (&'a str, safetensors::Dtype, Vec<usize>, &'a [u8])>,
    mut metadata: std::collections::HashMap<String, String>,
) -> Vec<u8> {
    let tensors: Vec<_> = tensors.into_iter().collect();
    let checksum = tensors_checksum(tensors.iter().map(|(name, _, _, data)| (*name, *data)));
    metadata.insert(CHECKSUM_KEY.into(), checksum);
    let views = tensors.into_iter().map(|(name, dtype, shape, data)| {
        let view =
            safetensors::tensor::TensorView::new(dtype, shape, data).expect("shape matches data");
        (name, view)
    });
    let bytes =
        safetensors::serialize(views, Some(metadata)).expect("well-formed tensors serialize");
    sorted_safetensors_header(bytes)
}

/// Parses safetensors `bytes` into their tensors and metadata, and checks the tensors against the
/// checksum [`safetensors_bytes`] wrote into the metadata. `Err` says what is wrong: not
/// safetensors, cut short, or a byte changed after writing. A file without a checksum (not
/// written by maxent) passes.
pub fn read_safetensors(
    bytes: &[u8],
) -> std::result::Result<
    (
        safetensors::SafeTensors<'_>,
        std::collections::HashMap<String, String>,
    ),
    String,
> {
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let tensors = safetensors::SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    if let Some(expected) = metadata.get(CHECKSUM_KEY) {
        let views = tensors.tensors();
        let found = tensors_checksum(
            views
                .iter()
                .map(|(name, view)| (name.as_str(), view.data())),
        );
        if &found != expected {
            return Err(format!(
                "checksum mismatch (CRC-32 {found}, written {expected}): its data changed after it was written"
            ));
        }
    }
    Ok((tensors, metadata))
}

/// safetensors bytes with their JSON header's keys in sorted order, metadata included (the
/// `safetensors` crate writes its metadata map in hash order, which changes from one process
/// to the next). The header keeps its length, so every data offset stays valid; bytes that do
/// not parse are returned as they are.
fn sorted_safetensors_header(mut bytes: Vec<u8>) -> Vec<u8> {
    use std::collections::BTreeMap;
    let Some(n) = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
    else {
        return bytes;
    };
    let Some(Ok(mut header)) = bytes
        .get(8..8 + n)
        .map(serde_json::from_slice::<BTreeMap<String, serde_json::Value>>)
    else {
        return bytes;
    };
    if let Some(serde_json::Value::Object(meta)) = header.get("__metadata__") {
        let sorted: BTreeMap<&String, &serde_json::Value> = meta.iter().collect();
        let sorted = serde_json::to_value(sorted).expect("plain data");
        header.insert("__metadata__".into(), sorted);
    }
    let text = serde_json::to_string(&header).expect("plain data");
    if text.len() <= n {
        bytes[8..8 + text.len()].copy_from_slice(text.as_bytes());
        bytes[8 + text.len()..8 + n].fill(b' ');
    }
    bytes
}
