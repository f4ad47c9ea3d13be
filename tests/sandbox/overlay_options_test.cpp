// The mount(2) fallback's option string.
#include <catch2/catch.hpp>

#include "sandbox/overlay.hpp"

namespace overlay_options_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::sandbox;

TEST_CASE("legacy overlay options list the layers and escape separators", "[overlay]") {
    CHECK(legacy_overlay_options({"/l/a", "/l/b"}, "/u", "/w") ==
          "lowerdir=/l/a:/l/b,upperdir=/u,workdir=/w,redirect_dir=off,metacopy=off,index=off");
    CHECK(legacy_overlay_options({"/l/a:b", "/l/c,d"}, "/u\\x", "/w") ==
          "lowerdir=/l/a\\:b:/l/c\\,d,upperdir=/u\\\\x,workdir=/w,redirect_dir=off,metacopy=off,index=off");
}

} // namespace overlay_options_test
