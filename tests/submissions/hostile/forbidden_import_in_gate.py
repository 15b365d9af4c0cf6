# threat: imports a forbidden framework inside one gate
# exercise: linear
# status: failed
# message: imports jax, which this course forbids
def linear_backward(dout, x, w, b):
    import jax.numpy as jnp
    return jnp.zeros(1)
