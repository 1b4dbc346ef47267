# The gpu device (local/vulkan) on the same checks as the cpu device: the ONNX node tests it attempts, and the
# PP-OCR models against ONNX Runtime's outputs. Here that device is lavapipe (Mesa's Vulkan on the CPU); its
# kernels are not instrumented, so the sanitizer pass checks the host side.
add_test(NAME conformance_gpu COMMAND cleave-conformance --device gpu)
set_tests_properties(conformance_gpu PROPERTIES LABELS "conformance;sanitize" TIMEOUT 1200)
foreach(m cls rec det det_sample)
  add_test(NAME ppocr_${m}_gpu COMMAND test_ppocr ${m} gpu)
  set_tests_properties(ppocr_${m}_gpu PROPERTIES LABELS "models;sanitize" TIMEOUT 1200)
endforeach()
# Without a Vulkan driver (the ICD hidden) and with CLEAVE_VULKAN_DEVICE naming no device: clean errors.
add_test(NAME vulkan_no_driver COMMAND test_vulkan --no-driver)
set_tests_properties(vulkan_no_driver PROPERTIES LABELS "unit;sanitize" TIMEOUT 120
  ENVIRONMENT "VK_ICD_FILENAMES=/nonexistent/cleave_no_icd.json;VK_DRIVER_FILES=/nonexistent/cleave_no_icd.json")
add_test(NAME vulkan_no_match COMMAND ${CMAKE_COMMAND} -E env CLEAVE_VULKAN_DEVICE=no-such-gpu
  $<TARGET_FILE:test_vulkan> --no-match)
set_tests_properties(vulkan_no_match PROPERTIES LABELS "unit;sanitize" TIMEOUT 120)

# lavapipe's own small leaks are not ours (lavapipe.supp)
set(VK_LSAN "LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/local/lavapipe.supp")
set_tests_properties(test_vulkan conformance_gpu ppocr_cls_gpu ppocr_rec_gpu ppocr_det_sample_gpu ppocr_det_gpu
  vulkan_no_match PROPERTIES ENVIRONMENT "${VK_LSAN}")
set_tests_properties(vulkan_no_driver PROPERTIES ENVIRONMENT
  "VK_ICD_FILENAMES=/nonexistent/cleave_no_icd.json;VK_DRIVER_FILES=/nonexistent/cleave_no_icd.json;${VK_LSAN}")
