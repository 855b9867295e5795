"""Two logical CPUs for the `tf.distribute` tests, shared by the test files
that each run in a process of their own."""


def two_tf_cpus():
    """Splits the CPU into two logical devices, if TF has not started."""
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
    except RuntimeError:  # Already initialised by an earlier test file.
        pass
    return len(tf.config.list_logical_devices("CPU"))
