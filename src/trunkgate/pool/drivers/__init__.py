"""Provider drivers, one small package or module each, all implementing
`trunkgate.pool.driver.Driver`. Nothing here is shared state or policy.
"""
