#pragma once
// ADD's local tar archives: recognised by content (plain, gzip, bzip2, xz or zstd tar, as
// BuildKit does) and extracted into the destination directory like `tar -x`, with
// hostile input in mind: every entry is resolved inside the destination without following
// a symlink, so no `..`, absolute name, or link planted by the archive leads out of it.
#include <filesystem>

namespace strata::builder {

namespace fs = std::filesystem;

// True when `file` is a tar archive (compressed or not) with at least one entry. An empty
// or unreadable archive is not one: ADD then copies it as a plain file, as docker does.
bool is_tar_archive(const fs::path& file);

// Extracts `archive` into `dest_dir` (an existing real directory in the snapshot being
// written). Entries keep their mode, numeric owner, mtime and portable xattrs, as docker's
// untar does. A directory missing from the archive but present at the same place in
// `lower_dest` (the image below, read-only) is created with the lower's mode and owner;
// otherwise 0755 root:root. The archive's root entry ("./") changes nothing.
// Refused, naming the entry: absolute names, `..`, a path through a symlink, hard links to
// outside the archive, device nodes and sockets (overlay snapshots read a 0:0 char device
// as a deletion), and `.wh.` names (a layer reads those as deletions).
void extract_tar(const fs::path& archive, const fs::path& dest_dir, const fs::path& lower_dest);

} // namespace strata::builder
