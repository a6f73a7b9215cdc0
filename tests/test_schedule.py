import pytest

from gluon_wgan.training.schedule import critic_iters


def test_reference_schedule_counts():
    """100 critic iterations for generator iterations 0-24 and every 500th, else 5 (WGAN reference code)."""
    counts = [critic_iters(g) for g in range(1001)]
    assert counts[:25] == [100] * 25
    assert counts[25] == 5
    assert counts[499] == 5 and counts[500] == 100 and counts[501] == 5 and counts[1000] == 100
    assert sum(counts) == 25 * 100 + 2 * 100 + (1001 - 27) * 5


@pytest.mark.parametrize("gen_iter", [0, 1, 24, 25, 500, 1000])
def test_schedule_without_bursts_is_constant(gen_iter):
    assert critic_iters(gen_iter, d_iters=5, warmup=0, burst_every=0) == 5


@pytest.mark.parametrize("gen_iters", [1, 2, 24, 25, 26, 499, 500, 501, 1000, 1001, 1234])
@pytest.mark.parametrize("d_iters,warmup,burst,burst_every", [
    (5, 25, 100, 500), (5, 0, 100, 0), (2, 0, 7, 3), (1, 10, 3, 0), (3, 600, 9, 500), (4, 7, 11, 1)])
def test_total_critic_iters_is_the_sum_of_the_schedule(gen_iters, d_iters, warmup, burst, burst_every):
    from gluon_wgan.training.schedule import total_critic_iters
    summed = sum(critic_iters(i, d_iters, warmup, burst, burst_every) for i in range(gen_iters))
    assert total_critic_iters(gen_iters, d_iters, warmup, burst, burst_every) == summed


def test_total_critic_iters_of_a_huge_run_is_closed_form():
    """Issue 23: --gen-iters 10**12 hung at start-up while the progress bar's total was summed."""
    from gluon_wgan.training.schedule import total_critic_iters
    bursts = 25 + (10 ** 12 // 500 - 1)      # iterations 0-24, then 500, 1000, ..., 10**12 - 500
    assert total_critic_iters(10 ** 12) == bursts * 100 + (10 ** 12 - bursts) * 5


@pytest.mark.parametrize("kwargs,message", [
    (dict(burst=0), "--burst-d-iters must be at least 1, got 0"),
    (dict(d_iters=0), "--d-iters must be at least 1, got 0"),
    (dict(warmup=-1), "--warmup-iters must be >= 0, got -1"),
])
def test_a_schedule_without_critic_updates_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        critic_iters(0, **kwargs)
