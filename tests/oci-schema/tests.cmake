# OCI image-spec JSON-schema conformance (included from tests/CMakeLists.txt).
# validate_oci.py runs on Debian's /usr/bin/python3 with python3-jsonschema (scripts/setup.sh).
set(STRATA_OCI_SPEC_DIR ${CMAKE_SOURCE_DIR}/../shared/conformance/oci-image-spec)

# Upstream's 71 schema test documents and 13 spec examples get upstream's verdicts.
add_test(NAME oci-schema-cases
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/validate_oci.py cases ${STRATA_OCI_SPEC_DIR})
set_tests_properties(oci-schema-cases PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)

# The layout strata writes when it builds the examples passes the same validator.
add_test(NAME oci-schema-built-image
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/built_image_test.sh $<TARGET_FILE:strata> ${STRATA_OCI_SPEC_DIR})
set_tests_properties(oci-schema-built-image PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900)
