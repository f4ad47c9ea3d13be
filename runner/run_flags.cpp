#include "runner/run_flags.hpp"

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/units.hpp"

#include <sstream>
#include <sys/stat.h>

namespace strata::runner {

namespace {

std::vector<std::string> split(const std::string& text, char separator) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    for (;;) {
        const auto at = text.find(separator, start);
        parts.push_back(text.substr(start, at - start));
        if (at == std::string::npos) return parts;
        start = at + 1;
    }
}

void check_target(const std::string& target, const std::string& flag) {
    if (target.empty()) throw Error(flag + ": a target path in the container is required");
    if (target.front() != '/') throw Error(flag + ": the container path '" + target + "' must be absolute");
    if (fs::path(target).lexically_normal() == "/") throw Error(flag + ": cannot mount over '/'");
}

unsigned parse_mode(const std::string& text, const std::string& flag) {
    std::size_t used = 0;
    unsigned long mode = 0;
    try {
        mode = std::stoul(text, &used, 8);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != text.size() || text.empty() || mode > 07777) throw Error(flag + ": invalid mode '" + text + "' (octal, as 1777)");
    return static_cast<unsigned>(mode);
}

} // namespace

MountRequest parse_volume_flag(const std::string& text) {
    const std::string flag = "-v '" + text + "'";
    const auto parts = split(text, ':');
    MountRequest request;
    if (parts.size() == 1) {  // -v /data: an anonymous volume
        request.kind = MountRequest::Kind::volume;
        request.target = parts[0];
    } else if (parts.size() <= 3) {
        request.source = parts[0];
        request.target = parts[1];
        if (request.source.empty()) throw Error(flag + ": empty source");
        request.kind = request.source.front() == '/' ? MountRequest::Kind::bind : MountRequest::Kind::volume;
        request.create_source = true;
        if (parts.size() == 3) {
            for (const auto& option : split(parts[2], ',')) {
                if (option == "ro") request.read_only = true;
                else if (option == "rw") request.read_only = false;
                else if (option == "nocopy") request.copy_image_content = false;
                else if (option == "z" || option == "Z") continue;
                else throw Error(flag + ": unknown option '" + option + "' (ro, rw, z, Z, nocopy)");
            }
        }
    } else {
        throw Error(flag + ": expected SOURCE:TARGET[:OPTIONS]");
    }
    check_target(request.target, flag);
    return request;
}

MountRequest parse_mount_flag(const std::string& text) {
    const std::string flag = "--mount '" + text + "'";
    MountRequest request;
    std::string type = "volume";  // docker's default type
    for (const auto& field : split(text, ',')) {
        const auto eq = field.find('=');
        const std::string key = field.substr(0, eq);
        const std::string value = eq == std::string::npos ? "" : field.substr(eq + 1);
        if (key == "type") type = value;
        else if (key == "source" || key == "src") request.source = value;
        else if (key == "target" || key == "destination" || key == "dst") request.target = value;
        else if (key == "readonly" || key == "ro")
            request.read_only = eq == std::string::npos || value == "true" || value == "1";
        else if (key == "tmpfs-size") request.size_bytes = parse_ram_bytes(value);
        else if (key == "tmpfs-mode") request.mode = parse_mode(value, flag);
        else if (key == "volume-nocopy") request.copy_image_content = !(eq == std::string::npos || value == "true" || value == "1");
        else if (key == "bind-propagation" || key == "consistency") continue;
        else throw Error(flag + ": unknown key '" + key + "'");
    }
    if (type == "bind") {
        request.kind = MountRequest::Kind::bind;
        if (request.source.empty() || request.source.front() != '/')
            throw Error(flag + ": a bind mount needs an absolute source path");
    } else if (type == "volume") {
        request.kind = MountRequest::Kind::volume;
    } else if (type == "tmpfs") {
        request.kind = MountRequest::Kind::tmpfs;
        if (!request.source.empty()) throw Error(flag + ": a tmpfs mount has no source");
    } else {
        throw Error(flag + ": unknown type '" + type + "' (bind, volume or tmpfs)");
    }
    if (request.kind != MountRequest::Kind::tmpfs && (request.size_bytes || request.mode != 01777))
        throw Error(flag + ": tmpfs-size and tmpfs-mode are for type=tmpfs");
    check_target(request.target, flag);
    return request;
}

MountRequest parse_tmpfs_flag(const std::string& text) {
    const std::string flag = "--tmpfs '" + text + "'";
    MountRequest request;
    request.kind = MountRequest::Kind::tmpfs;
    const auto colon = text.find(':');
    request.target = text.substr(0, colon);
    if (colon != std::string::npos) {
        for (const auto& option : split(text.substr(colon + 1), ',')) {
            const auto eq = option.find('=');
            const std::string key = option.substr(0, eq);
            const std::string value = eq == std::string::npos ? "" : option.substr(eq + 1);
            if (key == "size") request.size_bytes = parse_ram_bytes(value);
            else if (key == "mode") request.mode = parse_mode(value, flag);
            // Always nosuid and nodev; exec or not is not worth refusing docker's spellings.
            else if (key == "rw" || key == "exec" || key == "noexec" || key == "nosuid" || key == "nodev" || key == "suid" || key == "dev") continue;
            else throw Error(flag + ": unknown option '" + key + "' (size, mode)");
        }
    }
    check_target(request.target, flag);
    return request;
}

namespace {

// The image's directory at `target` below `image_root`, if every component of the way is a
// real directory: a symlink could lead out of the image (to the host), so none is followed.
std::optional<fs::path> image_dir_at(const fs::path& image_root, const std::string& target) {
    fs::path at = image_root;
    for (const auto& part : fs::path(target).lexically_normal().relative_path()) {
        if (part == "..") return std::nullopt;
        at /= part;
        struct stat st {};
        if (::lstat(at.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
    }
    return at;
}

// docker's rule: a volume that is empty when mounted gets the image's files at its target
// (with their owners and modes, and the directory's own).
void fill_from_image(const fs::path& volume, const fs::path& image_root, const std::string& target) {
    if (image_root.empty() || !fs::is_empty(volume)) return;
    const auto source = image_dir_at(image_root, target);
    if (!source) return;
    copy_tree(*source, volume);
    struct stat st {};
    if (::lstat(source->c_str(), &st) == 0) copy_attributes(*source, volume, st);
}

void give_new_volume_to_root(const fs::path& volume, const sandbox::IdMapping& userns) {
    struct stat st {};
    if (::lstat(volume.c_str(), &st) != 0) throw_errno("stat", volume.string());
    if (st.st_uid == 0 && st.st_gid == 0 && ::lchown(volume.c_str(), userns.host_uid, userns.host_gid) != 0)
        throw_errno("chown", volume.string());
}

} // namespace

sandbox::Mount resolve_mount(const MountRequest& request, store::Store& store, const fs::path& anonymous_parent,
                             const fs::path& image_root, const std::optional<sandbox::IdMapping>& userns) {
    sandbox::Mount mount;
    mount.target = request.target;
    switch (request.kind) {
    case MountRequest::Kind::tmpfs:
        mount.kind = sandbox::Mount::Kind::tmpfs;
        mount.size_bytes = request.size_bytes;
        mount.mode = request.mode;
        return mount;
    case MountRequest::Kind::volume:
        if (request.source.empty()) {
            // Anonymous: numbered by position, so two of them never share a directory.
            const auto count = std::distance(fs::directory_iterator(anonymous_parent), fs::directory_iterator());
            mount.source = anonymous_parent / std::to_string(count);
            make_dirs(mount.source);
        } else {
            mount.source = store.volume_dir(request.source);
        }
        if (request.copy_image_content) fill_from_image(mount.source, image_root, request.target);
        if (userns) give_new_volume_to_root(mount.source, *userns);
        break;
    case MountRequest::Kind::bind: {
        mount.source = request.source;
        struct stat st {};
        if (::stat(mount.source.c_str(), &st) != 0) {
            if (errno != ENOENT) throw_errno("stat", request.source);
            // docker: -v makes a missing host path as a directory, --mount refuses it.
            if (!request.create_source) throw Error("bind source path does not exist: " + request.source);
            make_dirs(mount.source);
        }
        break;
    }
    }
    mount.kind = sandbox::Mount::Kind::bind;
    mount.read_only = request.read_only;
    return mount;
}

std::vector<std::string> read_env_file(const fs::path& path) {
    std::istringstream lines(read_file(path));
    std::vector<std::string> env;
    std::string line;
    for (int number = 1; std::getline(lines, line); ++number) {
        const auto start = line.find_first_not_of(" \t");
        if (start == std::string::npos || line[start] == '#') continue;
        line.erase(0, start);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const std::string key = line.substr(0, line.find('='));
        if (key.empty() || key.find_first_of(" \t") != std::string::npos)
            throw Error(path.string() + ":" + std::to_string(number) + ": invalid variable name '" + key + "'");
        env.push_back(line);
    }
    return env;
}

} // namespace strata::runner
