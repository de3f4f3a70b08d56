VALUE = "from parameter_lib"
