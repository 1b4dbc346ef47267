# The gpu device (local/vulkan) on the same checks as the cpu device: the ONNX node tests it attempts, and the
# PP-OCR models against ONNX Runtime's outputs. Here that device is lavapipe (Mesa's Vulkan on the CPU). Its
# kernels are not instrumented, so the sanitizer pass checks the host side at the cost of lavapipe's speed; the
# full-size det (1x3x640x640 on a software GPU) runs in the normal pass only, det_sample covers the same graph
# under the sanitizers.
add_test(NAME conformance_gpu COMMAND cleave-conformance --device gpu)
set_tests_properties(conformance_gpu PROPERTIES LABELS "conformance;sanitize" TIMEOUT 1200)
foreach(m cls rec det_sample)
  add_test(NAME ppocr_${m}_gpu COMMAND test_ppocr ${m} gpu)
  set_tests_properties(ppocr_${m}_gpu PROPERTIES LABELS "models;sanitize" TIMEOUT 1200)
endforeach()
add_test(NAME ppocr_det_gpu COMMAND test_ppocr det gpu)
set_tests_properties(ppocr_det_gpu PROPERTIES LABELS "models" TIMEOUT 1200)
# Without a Vulkan driver (the ICD hidden) and with CLEAVE_VULKAN_DEVICE naming no device: clean errors.
add_test(NAME vulkan_no_driver COMMAND test_vulkan --no-driver)
set_tests_properties(vulkan_no_driver PROPERTIES LABELS "unit;sanitize" TIMEOUT 120
  ENVIRONMENT "VK_ICD_FILENAMES=/nonexistent/cleave_no_icd.json;VK_DRIVER_FILES=/nonexistent/cleave_no_icd.json")
add_test(NAME vulkan_no_match COMMAND test_vulkan --no-match)
set_tests_properties(vulkan_no_match PROPERTIES LABELS "unit;sanitize" TIMEOUT 120
  ENVIRONMENT "CLEAVE_VULKAN_DEVICE=no-such-gpu")
