#include "sandbox/network_files.hpp"

#include "util/error.hpp"
#include "util/fs.hpp"

#include <sstream>

namespace strata::sandbox {

namespace {

// The host's resolver, without loopback name servers when the container has its own
// network namespace: 127.0.0.53 there is the container's own loopback, where nothing
// listens (docker and BuildKit drop them the same way).
std::string resolv_conf(bool host_network) {
    std::string host;
    try {
        host = read_file("/etc/resolv.conf");
    } catch (const Error&) {
        return "";  // no resolver on the host: none in the container either
    }
    if (host_network) return host;
    std::istringstream lines(host);
    std::string out;
    for (std::string line; std::getline(lines, line);) {
        std::istringstream words(line);
        std::string keyword, address;
        words >> keyword >> address;
        if (keyword == "nameserver" && (address.rfind("127.", 0) == 0 || address == "::1")) continue;
        out += line + "\n";
    }
    return out;
}

} // namespace

std::vector<Mount> network_identity_mounts(const Spec& spec, const std::filesystem::path& dir) {
    make_dirs(dir);
    const std::string hosts = "127.0.0.1\tlocalhost " + spec.hostname +
                              "\n::1\tlocalhost ip6-localhost ip6-loopback\n";
    write_file_replace(dir / "hosts", hosts);
    write_file_replace(dir / "hostname", spec.hostname + "\n");
    write_file_replace(dir / "resolv.conf", resolv_conf(spec.host_network));
    std::vector<Mount> mounts;
    for (const char* name : {"hosts", "hostname", "resolv.conf"}) {
        Mount m;
        m.source = dir / name;
        m.target = std::string("/etc/") + name;
        m.read_only = false;
        mounts.push_back(std::move(m));
    }
    return mounts;
}

} // namespace strata::sandbox
