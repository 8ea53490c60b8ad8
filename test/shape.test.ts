// Pure shape logic (no GPU): broadcasting, views, reshape inference.
import { expect } from 'chai';
import { broadcastShapes, contiguousStrides, inferReshape, viewStrides } from '../engine/shape.js';

describe('shape logic', function () {
  it('broadcasts like NumPy and names the op on failure', function () {
    expect(broadcastShapes('add', [3, 1, 257], [4, 1])).to.deep.equal([3, 4, 257]);
    expect(broadcastShapes('add', [], [2, 3])).to.deep.equal([2, 3]);
    expect(() => broadcastShapes('add', [2, 3], [4])).to.throw('add: shapes [2, 3] and [4] cannot be broadcast together');
  });
  it('infers one -1 in reshape', function () {
    expect(inferReshape('reshape', [4, 6], [-1, 3])).to.deep.equal([8, 3]);
    expect(() => inferReshape('reshape', [4, 6], [5, -1])).to.throw(/cannot reshape \[4, 6\]/);
  });
  it('views contiguous memory under any regrouping', function () {
    expect(viewStrides([4, 6], contiguousStrides([4, 6]), [2, 12])).to.deep.equal([12, 1]);
    expect(viewStrides([2, 3, 4], [12, 4, 1], [6, 4])).to.deep.equal([4, 1]);
  });
  it('views a transposed tensor only where its runs allow', function () {
    // [3, 4] transposed to [4, 3] has strides [1, 4]: flattening needs a copy, adding unit dims does not
    expect(viewStrides([4, 3], [1, 4], [12])).to.equal(null);
    const unit = viewStrides([4, 3], [1, 4], [4, 1, 3])!;
    expect([unit[0], unit[2]]).to.deep.equal([1, 4]); // a size-1 dim's stride is free
    // splitting a permuted dim keeps the view
    expect(viewStrides([6, 2], [1, 6], [2, 3, 2])).to.deep.equal([3, 1, 6]);
  });
});
