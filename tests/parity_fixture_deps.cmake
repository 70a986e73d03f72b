# Included by ctest after test discovery: every discovered parity test requires the fixture-making test.
get_property(_all_tests DIRECTORY PROPERTY TESTS)
foreach(_t IN LISTS _all_tests)
  if(_t MATCHES "TorchaudioParity")
    set_tests_properties("${_t}" PROPERTIES FIXTURES_REQUIRED torchaudio_fixtures)
  endif()
endforeach()
