"""Decision-map grids: the suite's row-wise fast path against the notebook's way."""

from suite.training import decision_grid

from . import baselines, fixtures

WIDTHS = (10, 50)


class GridEvaluation(fixtures.Bench):
    """The class of every point of a grid of step h over a trained 3 x width spiral
    model's validation box +-1 (h = 0.01 is the notebook's map, ~5 M points)."""

    params = ([0.1, 0.03, 0.01], list(WIDTHS))
    param_names = ["h", "width"]

    def setup_cache(self):
        return {w: fixtures.trained(width=w, epochs=10) for w in WIDTHS}

    def setup(self, cache, h, width):
        super().setup()
        self.model = fixtures.model_of(cache[width])
        self.x_range, self.y_range = fixtures.ranges(cache[width])

    def time_class_map(self, cache, h, width):
        decision_grid.class_map(self.model, "mse", self.x_range, self.y_range, h)

    def time_notebook_way(self, cache, h, width):
        baselines.notebook_classes(self.model, self.x_range, self.y_range, h)

    def peakmem_class_map(self, cache, h, width):
        decision_grid.class_map(self.model, "mse", self.x_range, self.y_range, h)

    def peakmem_notebook_way(self, cache, h, width):
        baselines.notebook_classes(self.model, self.x_range, self.y_range, h)

    def track_class1_fraction(self, cache, h, width):
        """The share of the map given to class 1: moves when the numbers drift."""
        z = decision_grid.class_map(self.model, "mse", self.x_range, self.y_range, h)
        return fixtures.fraction(z)

    track_class1_fraction.unit = "fraction"
