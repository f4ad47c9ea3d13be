#pragma once
// A temporary store holding a busybox image built FROM scratch out of the host's static
// busybox (examples/busybox), for integration tests that drive the real strata binary.
#include "tests/common/shell.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

namespace strata::test {

struct BusyboxStore {
    ScratchDir dir{"strata-it-"};
    std::filesystem::path root = dir.path() / "root";
    CommandResult busybox_build;

    BusyboxStore() {
        const std::filesystem::path context = dir.path() / "busybox";
        std::filesystem::copy(std::filesystem::path(STRATA_SOURCE_DIR) / "examples" / "busybox", context,
                              std::filesystem::copy_options::recursive);
        std::filesystem::copy_file("/bin/busybox", context / "busybox", std::filesystem::copy_options::overwrite_existing);
        busybox_build = strata("build -t busybox " + quote(context.string()));
    }

    std::string cmd(const std::string& args) const {
        return quote(STRATA_BINARY) + " --root " + quote(root.string()) + " " + args;
    }
    CommandResult strata(const std::string& args) const { return sh(cmd(args)); }
    CommandResult strata_stdout(const std::string& args) const { return sh_stdout(cmd(args)); }

    // Builds `buildfile` in a fresh context holding `files` with --progress plain, so that
    // RUN output is in the result. `env` ("K=V ...") is strata's own environment.
    CommandResult build(const std::string& buildfile, const std::string& flags = "",
                        const std::map<std::string, std::string>& files = {}, const std::string& env = "") const {
        ScratchDir context;
        write_text(context.path() / "Buildfile", buildfile);
        for (const auto& [name, text] : files) write_text(context.path() / name, text);
        return sh(env + " " + cmd("build --progress plain " + flags + " " + quote(context.path().string())));
    }

    // The files of an image's layers, as `tar t` lists them, all layers together.
    std::string layer_listing(const std::string& tag) const {
        const auto inspect = sh_stdout("skopeo inspect " + quote("oci:" + (root / "oci").string() + ":" + tag + ":latest"));
        REQUIRE(inspect.exit_code == 0);
        const auto manifest = nlohmann::json::parse(inspect.output);
        std::string listing;
        for (const auto& layer : manifest["Layers"]) {
            const std::string digest = layer.get<std::string>();
            const auto blob = root / "oci" / "blobs" / "sha256" / digest.substr(7);
            const auto tar = sh_stdout("tar tzf " + quote(blob.string()));
            REQUIRE(tar.exit_code == 0);
            listing += tar.output;
        }
        return listing;
    }

    // The manifest of a tag, as skopeo reads it from the store's OCI layout.
    nlohmann::json manifest(const std::string& tag) const {
        const auto inspect = sh_stdout("skopeo inspect --raw " + quote("oci:" + (root / "oci").string() + ":" + tag));
        REQUIRE(inspect.exit_code == 0);
        return nlohmann::json::parse(inspect.output);
    }

    // The image config of a tag, as skopeo reads it from the store's OCI layout.
    nlohmann::json config(const std::string& tag) const {
        const auto inspect = sh_stdout("skopeo inspect --config " + quote("oci:" + (root / "oci").string() + ":" + tag));
        REQUIRE(inspect.exit_code == 0);
        return nlohmann::json::parse(inspect.output);
    }
};

// The busybox store of one test file, made when a test first needs it, so each file's
// tests see only their own images. `File`: a type of the file's own (anonymous namespace);
// `Store`: BusyboxStore or a fixture derived from it.
template <typename File, typename Store = BusyboxStore>
Store& file_store() {
    static auto s = std::make_unique<Store>();
    INFO(s->busybox_build.output);
    REQUIRE(s->busybox_build.exit_code == 0);
    return *s;
}

} // namespace strata::test
