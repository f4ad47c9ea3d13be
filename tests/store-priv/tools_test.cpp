// Other OCI tools read what the store writes: skopeo and umoci.
#include "../store/helpers.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <sys/wait.h>

namespace tools_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using namespace strata::store;
using namespace strata::store::test;

namespace {

struct CommandResult {
    int status = -1;
    std::string output;
};

// Runs a shell command (arguments here are our own temp paths, not user input).
CommandResult run(const std::string& command) {
    CommandResult r;
    FILE* p = ::popen((command + " 2>&1").c_str(), "r");
    REQUIRE(p);
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
    const int status = ::pclose(p);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

bool have(const char* tool) { return run(std::string("command -v ") + tool).status == 0; }

Descriptor one_layer_image(Store& store, const fs::path& tree) {
    write_text(tree / "hello", "hi\n");
    const Layer layer = store.write_layer(tree);
    const json config = {{"architecture", "amd64"},
                         {"os", "linux"},
                         {"config", {{"Cmd", {"/hello"}}}},
                         {"rootfs", {{"type", "layers"}, {"diff_ids", {layer.diff_id}}}}};
    return store.write_image(config, {layer.descriptor});
}

} // namespace

TEST_CASE("skopeo inspects a tagged image in the store's layout", "[tools]") {
    if (!have("skopeo")) {
        WARN("skopeo not installed: skipping");
        return;
    }
    TempDir root(test_tmp()), tree(test_tmp());
    Store store(root.path());
    const Descriptor m = one_layer_image(store, tree.path());
    store.tag("t:1", m);
    // skopeo splits "oci:<dir>:<ref>" at the first colon and matches <ref> exactly
    // against the ref.name annotation, so the full "name:tag" is the reference.
    const auto r = run("skopeo inspect oci:" + store.layout_dir().string() + ":t:1");
    INFO(r.output);
    REQUIRE(r.status == 0);
    const json info = json::parse(r.output);
    CHECK(info["Digest"] == m.digest);
    CHECK(info["Layers"].size() == 1);
    CHECK(run("skopeo inspect oci:" + store.layout_dir().string() + ":t").status != 0);
}

TEST_CASE("umoci unpacks a tagged image from the store's layout", "[tools]") {
    if (!have("umoci")) {
        WARN("umoci not installed: skipping");
        return;
    }
    TempDir root(test_tmp()), tree(test_tmp()), work(test_tmp());
    Store store(root.path());
    store.tag("t:1", one_layer_image(store, tree.path()));
    const fs::path bundle = work.path() / "bundle";
    const auto r = run("umoci unpack --image " + store.layout_dir().string() + ":t:1 " + bundle.string());
    INFO(r.output);
    REQUIRE(r.status == 0);
    CHECK(read_file(bundle / "rootfs/hello") == "hi\n");
    CHECK(run("umoci stat --image " + store.layout_dir().string() + ":t:1").status == 0);
}

} // namespace tools_test
