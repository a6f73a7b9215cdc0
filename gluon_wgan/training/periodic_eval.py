"""--eval-every: the evaluator the loop calls, FID and IS of the generator against the real data's
statistics (training/evaluate.py computes them)."""
from .errors import EvaluationUnavailable


def evaluator(cfg, ctx):
    """generator -> {'fid', 'is_mean', 'is_std'}; InceptionV3 and the real statistics are ready now."""
    from .evaluate import default_cache_dir, evaluate_generator, make_extractor, real_statistics
    try:
        extractor = make_extractor(cfg.inception, cfg.inception_weights, ctx=ctx, batch_size=cfg.batch_size)
        real = real_statistics(extractor, cfg.dataset, root=cfg.dataroot, image_size=cfg.image_size,
                               resize_backend=cfg.resize_backend, interpolation=cfg.interpolation,
                               lsun_category=cfg.lsun_category, n_images=cfg.eval_samples,
                               cache_dir=default_cache_dir(), seed=cfg.seed)
    except ValueError as err:
        raise EvaluationUnavailable(f"--eval-every: {err}") from None

    def evaluate(generator):
        # 'eigh': exact also when eval_samples < 2048 leaves the covariances singular (sqrtm fails).
        result = evaluate_generator(generator, real, extractor, n_samples=cfg.eval_samples,
                                    batch_size=cfg.batch_size, ctx=ctx, seed=cfg.seed, fid_method="eigh")
        return {k: result[k] for k in ("fid", "is_mean", "is_std")}
    return evaluate
