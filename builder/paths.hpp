#pragma once
// Paths that come from a Buildfile or a build context are hostile: they are resolved
// lexically under a root, following symlinks as if the root were "/", so no `..`,
// absolute path or symlink can lead outside it (what securejoin does for runc).
#include <filesystem>
#include <string_view>

namespace strata::builder {

namespace fs = std::filesystem;

// "a/../b" -> "b", "/x/y/" -> "x/y", "." -> "". Never starts with "..": climbing
// above the root stays at the root, as a chroot would.
fs::path clean_relative(std::string_view path);

// Resolves `rel` inside `root`, following symlinks (scoped to root) in every component,
// and in the last one only when follow_last is true. Returns root / <resolved>.
fs::path resolve_in_root(const fs::path& root, std::string_view rel, bool follow_last);
// The same, returning only the resolved path relative to root (clean, no "..").
fs::path resolve_relative(const fs::path& root, std::string_view rel, bool follow_last);

// Joins a container path to a working directory: absolute paths win. Result is absolute and clean.
std::string join_container_path(std::string_view workdir, std::string_view path);

} // namespace strata::builder
